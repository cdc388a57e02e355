"""POST /v1/chat/completions: validate, ask the pool, answer as JSON or as SSE chunks.

Everything that can fail early (body, auth, model, pool.ask) happens in the view, before the
Response exists, so it leaves through the JSON error handler. The stream generator only gets
plain values: no request context, no stream_with_context.
"""

from __future__ import annotations

import dataclasses
import json
import logging

from flask import Blueprint
from flask import request

from ..extension import get_pool
from ..extension import get_settings
from ..lingma.errors import LingmaContentFilterError
from ..lingma.errors import LingmaError
from . import sse
from .auth import require_api_key
from .errors import ApiError
from .errors import from_lingma
from .models import resolve_model
from .output import OutputFilter
from .prompt import message_text
from .prompt import render_prompt
from .requestlog import RequestRecord
from .requestlog import current_record
from .schemas import ChatRequest
from .schemas import parse_chat_request
from .shapes import Completion
from .shapes import usage
from .tokens import estimate_prompt_tokens

log = logging.getLogger(__name__)

USAGE_HEADERS = {"x-lingma-usage": "estimated"}

bp = Blueprint("chat", __name__)
bp.before_request(require_api_key)


@dataclasses.dataclass
class ChatJob:
    """One running completion: the upstream stream and what the answer needs."""

    chat: ChatRequest
    stream: object  # lingma.stream.ChatStream
    completion: Completion
    record: RequestRecord
    prompt_tokens: int
    output: OutputFilter

    def usage(self) -> dict:
        """Return the estimated usage so far."""
        return usage(self.prompt_tokens, self.output.completion_tokens)


def read_json():
    """Decode the request body as JSON (whatever the Content-Type) or raise a 400."""
    raw = request.get_data(cache=False)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}.",
                       code="invalid_json") from None


def start_job(chat: ChatRequest, record: RequestRecord) -> ChatJob:
    """Resolve the model, render the prompt and start the Lingma ask."""
    model_key, model_name = resolve_model(chat.model)
    record.model = model_name
    prompt = render_prompt(chat.messages)
    prompt_tokens = estimate_prompt_tokens([message_text(m) for m in chat.messages])
    stream = get_pool().ask(prompt, model_key)
    record.instance = getattr(stream, "instance_name", None)
    return ChatJob(chat, stream, Completion(model_name), record, prompt_tokens,
                   OutputFilter(chat.stops, chat.max_tokens))


@bp.post("/v1/chat/completions")
@bp.post("/chat/completions")
def create_chat_completion():
    """Answer a chat completion, streamed as SSE or as one JSON object."""
    chat = parse_chat_request(read_json())
    if chat.ignored:
        log.debug("fields accepted but not forwarded: %s", ", ".join(chat.ignored))
    record = current_record()
    record.stream, record.model = chat.stream, chat.model
    job = start_job(chat, record)
    if not chat.stream:
        return complete(job), 200, USAGE_HEADERS
    try:
        frames = stream_frames(job, get_settings().sse_keepalive)
        response = sse.event_stream(frames, headers=USAGE_HEADERS)
    except BaseException:
        job.stream.close()
        raise
    record.deferred = True  # the generator writes the log line when the stream ends
    return response


def complete(job: ChatJob) -> dict:
    """Read the whole answer and return the chat.completion object."""
    parts = []
    try:
        for chunk in job.stream:
            job.record.mark_first_token()
            parts.append(job.output.feed(chunk))
            if job.output.finish_reason:
                job.stream.cancel(f"finish_reason {job.output.finish_reason}")
                break
        else:
            parts.append(job.output.flush())
    finally:
        job.stream.close()
    job.record.finish_reason = job.output.finish_reason
    return job.completion.message("".join(parts), job.output.finish_reason, job.usage())


def stream_frames(job: ChatJob, keepalive: float):
    """Yield the SSE frames of a streamed answer; the stream is closed whichever way it ends."""
    record, completion, ended = job.record, job.completion, False
    try:
        yield sse.encode(completion.role_chunk())
        yield from content_frames(job, keepalive)
        yield from closing_frames(job, job.output.finish_reason)
        ended = True
    except LingmaContentFilterError:
        yield from closing_frames(job, "content_filter")
        ended = True
    except LingmaError as err:
        record.error = err.kind
        ended = True
        yield sse.encode(from_lingma(err).body())
    except Exception:
        log.exception("stream %s failed", record.id)
        record.error, ended = "internal_error", True
        yield sse.encode(ApiError(500, "The gateway hit an internal error; see the server"
                                  " log.", code="internal_error").body())
    finally:
        # never yield here: a GeneratorExit (client gone) passes through this block
        job.stream.close()
        if not ended:
            record.error = "client_disconnected"
        record.write()


def content_frames(job: ChatJob, keepalive: float):
    """Yield content chunks as they arrive, and keepalive comments while Lingma is quiet."""
    content_frame = sse.template(job.completion.chunk({"content": sse.SLOT}))
    for item in job.stream.events(keepalive, coalesce=True):
        if item is None:
            yield sse.KEEPALIVE
            continue
        job.record.mark_first_token()
        text = job.output.feed(item)
        if text:
            yield content_frame(text)
        if job.output.finish_reason:
            job.stream.cancel(f"finish_reason {job.output.finish_reason}")
            return
    text = job.output.flush()
    if text:
        yield content_frame(text)


def closing_frames(job: ChatJob, finish_reason: str):
    """Yield the finish chunk, the usage chunk if asked for, and [DONE]."""
    job.record.finish_reason = finish_reason
    yield sse.encode(job.completion.chunk({}, finish_reason))
    if job.chat.include_usage:
        yield sse.encode(job.completion.usage_chunk(job.usage()))
    yield sse.DONE
