"""/v1/conversations: the Conversations API, refused with a 400 that says why and what works.

OpenAI's Conversations API keeps a conversation's items on the server for later responses.
This gateway keeps no conversations, so every route of it is refused (never a silent
acceptance a client would build on): the conversation goes in `input`, or a stored response is
continued with `previous_response_id` (see docs/api.md).
"""

from __future__ import annotations

from flask import Blueprint

from ..web.auth import require_api_key
from ..web.errors import ApiError

bp = Blueprint("conversations", __name__)
bp.before_request(require_api_key)


def refused() -> ApiError:
    """Build the 400 every Conversations API route answers."""
    return ApiError(400, "The Conversations API is not supported: this gateway keeps no"
                    " conversations. Send the conversation in 'input', or continue a stored"
                    " response with 'previous_response_id'.", code="unsupported_endpoint")


@bp.post("/v1/conversations")
def create_conversation():
    """Refuse to create a conversation."""
    raise refused()


@bp.route("/v1/conversations/<path:conversation_path>", methods=["GET", "POST", "DELETE"])
def conversation_route(conversation_path: str):
    """Refuse every route under a conversation (retrieve, update, delete, items)."""
    raise refused()
