"""POST /v1/responses/input_tokens: a Responses request's input tokens, counted without Lingma.

The body is a Responses body (the openai SDK's `client.responses.input_tokens.count(...)`),
validated as `POST /v1/responses` validates it (a `previous_response_id` is looked up as
there, under the key's name), and counted with the estimator usage reports: the
count is exactly the `usage.input_tokens` the same request would be answered with.
"""

from __future__ import annotations

from flask import Blueprint

from ..pipeline import job as pipeline
from ..web.auth import require_api_key
from .face import check_model
from .face import read_json_body
from .responses import get_store
from .responses_request import parse_responses_request
from .state import owner as key_owner

bp = Blueprint("responses_tokens", __name__)
bp.before_request(require_api_key)


@bp.post("/v1/responses/input_tokens")
@bp.post("/responses/input_tokens")
def count_input_tokens():
    """Answer `{"object": "response.input_tokens", "input_tokens": N}`."""
    store, owner = get_store(), key_owner()
    parsed = parse_responses_request(read_json_body(), lambda rid: store.lookup(rid, owner))
    check_model(parsed.chat)
    return {"object": "response.input_tokens",
            "input_tokens": pipeline.count_prompt_tokens(parsed.chat)}
