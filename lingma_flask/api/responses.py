"""POST /v1/responses: the OpenAI Responses API face of the pipeline (Codex CLI, the SDK).

The view validates (a `previous_response_id` is looked up in the store of kept state,
`state.Kept`: this worker's memory, then the database every worker shares), starts
the job (everything that can fail early leaves through the OpenAI error envelope), then
answers with one `response` object or the event stream of `responses_stream`. A response is
stored for later `previous_response_id` requests, under the name of the key that made it,
unless the request says `store: false`. Only a request that succeeds touches the store: a
failed one neither keeps its response nor refreshes the one it continued.
"""

from __future__ import annotations

import logging

from flask import Blueprint
from flask import current_app

from ..pipeline import job as pipeline
from ..pipeline.conversation import PastCall
from ..pipeline.conversation import Turn
from ..pipeline.tools.freeform import freeform_names
from ..web.auth import require_api_key
from ..web.errors import ApiError
from ..web.errors import register_envelope
from ..web.limits import admit
from ..web.requestlog import current_record
from .face import answer_headers
from .face import collect_answer
from .face import context
from .face import read_json_body
from .face import stream_answer
from .responses_request import ResponsesRequest
from .responses_request import parse_responses_request
from .responses_shapes import RESPONSE_ID
from .responses_shapes import ResponseHead
from .responses_shapes import response_body
from .responses_store import ResponseStore
from .responses_store import turns_from_json
from .responses_store import turns_json
from .responses_stream import ResponseEncoder
from .state import Codec
from .state import Kept
from .state import owner as key_owner
from .state import shared_state

log = logging.getLogger(__name__)

STORE_KEY = "lingma_responses_store"
SCOPE = "response"      # the kind of shared state a stored response is
CODEC = Codec(turns_json, turns_from_json)

bp = Blueprint("responses", __name__)
bp.before_request(require_api_key)
bp.record_once(lambda state: state.app.extensions.setdefault(STORE_KEY, ResponseStore()))


def render_error(err: ApiError):
    """The OpenAI envelope, with "busy" named as the rate limit Codex retries after Retry-After."""
    if err.code == "lingma_busy":
        err.code = "rate_limit_exceeded"
    return err.body(), err.status, err.headers


register_envelope(bp.name, render_error)


def get_store() -> Kept[Turn]:
    """Return this app's store of recent responses: its memory, and the shared state behind it."""
    return Kept(current_app.extensions[STORE_KEY], SCOPE, CODEC, shared_state(), "previous_response_id",
                RESPONSE_ID)


@bp.post("/v1/responses")
@bp.post("/responses")
def create_response():
    """Answer a Responses API request, streamed as SSE or as one JSON object."""
    store, owner = get_store(), key_owner()
    parsed = parse_responses_request(read_json_body(), lambda rid: store.lookup(rid, owner))
    chat = parsed.chat
    if chat.ignored:
        log.debug("fields accepted but not forwarded: %s", ", ".join(chat.ignored))
    record = current_record()
    record.stream = chat.stream
    admit(record)
    job = pipeline.start(chat, record, context())
    head = ResponseHead(job.target.name, parsed.echo, custom_tools=freeform_names(chat.tools))

    def remember(text: str, calls: tuple) -> None:
        if parsed.previous_id is not None:
            store.touch(parsed.previous_id)
        if parsed.store:
            keep(store, head.id, owner, parsed, text, calls)

    if not chat.stream:
        result = collect_answer(job)
        remember(result.content, result.calls)
        return response_body(head, result), 200, answer_headers(job)
    return stream_answer(job, ResponseEncoder(head, remember), answer_headers(job))


def keep(store: ResponseStore | Kept[Turn], response_id: str, owner: str, parsed: ResponsesRequest,
         text: str, calls: tuple) -> None:
    """Store a response's conversation: the earlier turns, its input, and its answer."""
    # arguments as JSON text: compact, and sized exactly by the store
    answer = Turn("assistant", text, calls=tuple(PastCall(c.id, c.name, c.arguments_json())
                                                 for c in calls))
    if not store.put(response_id, parsed.conversation + (answer,), owner):
        log.info("response %s not stored: its conversation alone passes the store's %d bytes",
                 response_id, store.max_bytes)
