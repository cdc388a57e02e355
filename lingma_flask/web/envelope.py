"""The two error envelopes the gateway answers with, built in one place.

OpenAI's `{"error": {"message", "type", "param", "code"}}` (the OpenAI faces, /metrics, the
admin API) and Anthropic's `{"type": "error", "error": {"type", "message"}, "request_id"}` (the
Anthropic face), plus the error `type` each names for an HTTP status. gunicorn's master imports
this module (through web/gunicorn_worker.py) before it forks: it imports the stdlib only.
"""

from __future__ import annotations

import json

# Anthropic's documented error types; other statuses fall back to `anthropic_type`'s default.
ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                   403: "permission_error", 404: "not_found_error", 405: "invalid_request_error",
                   413: "request_too_large",
                   429: "rate_limit_error", 500: "api_error", 502: "api_error",
                   504: "timeout_error", 529: "overloaded_error"}


def openai_type(status: int) -> str:
    """Return the OpenAI error `type` for an HTTP status."""
    if status == 429:
        return "requests"
    if status == 403:
        return "permission_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def anthropic_type(status: int) -> str:
    """Return the Anthropic error `type` for an HTTP status."""
    return ANTHROPIC_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")


def openai_error(message: str, type: str, param: str | None = None,
                 code: str | None = None) -> dict:
    """Return OpenAI's error envelope."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def anthropic_error(type: str, message: str, request_id: str) -> dict:
    """Return Anthropic's error envelope (its `request_id` is the one the headers carry)."""
    return {"type": "error", "error": {"type": type, "message": message},
            "request_id": request_id}


def to_bytes(body: dict) -> bytes:
    """Encode an envelope for a response written outside Flask (json.dumps' default spacing)."""
    return json.dumps(body).encode()
