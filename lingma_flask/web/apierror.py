"""The one exception an API error is raised as, and the map from Lingma's errors to it.

Flask-free (stdlib and the core only), so the pipeline raises the errors the faces answer
with; `errors.py` registers the Flask handlers that render them.
"""

from __future__ import annotations

import math

from ..lingma import errors as lingma_errors
from . import envelope


class ApiError(Exception):
    """An error with everything the OpenAI envelope and the HTTP response need."""

    def __init__(self, status: int, message: str, *, type: str | None = None,
                 param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or envelope.openai_type(status)
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict:
        """Return the OpenAI error envelope."""
        return envelope.openai_error(self.message, self.type, self.param, self.code)


# class -> (status, hint appended to the message, extra headers)
_LINGMA_TABLE = {
    lingma_errors.LingmaNotReadyError: (
        503, "Lingma is not ready yet (starting, or failed to start): see GET /health and the"
        " server log; set LINGMA_BIN to the Lingma binary or LINGMA_SOCKET_PORT to attach.",
        {"Retry-After": "5"}),
    lingma_errors.LingmaNotLoggedInError: (
        503, "Log it in at the gateway's status page, /admin/ (or point LINGMA_LOGIN_FROM at a"
        " logged-in Lingma cache).", {"x-should-retry": "false"}),
    lingma_errors.LingmaBusyError: (
        429, "Every Lingma slot is busy; retry shortly (raise LINGMA_MAX_CONCURRENCY or"
        " LINGMA_POOL_SIZE for more).", {}),
    lingma_errors.LingmaRateLimitError: (429, "", {}),
    lingma_errors.LingmaQuotaError: (429, "", {"x-should-retry": "false"}),
    lingma_errors.LingmaForbiddenError: (403, "", {"x-should-retry": "false"}),
    lingma_errors.LingmaContentFilterError: (400, "", {}),
    lingma_errors.LingmaTimeoutError: (504, "", {}),
    lingma_errors.LingmaUpstreamError: (502, "", {}),
    lingma_errors.LingmaConnectionError: (502, "", {}),
    lingma_errors.LingmaRpcError: (502, "", {}),
    lingma_errors.LingmaShutdownError: (503, "Retry in a moment.", {"Retry-After": "1"}),
    lingma_errors.LingmaPromptTooLargeError: (400, "", {}),
    lingma_errors.LingmaCancelledError: (500, "", {}),
    lingma_errors.LingmaError: (502, "", {}),
}


def from_lingma(err: lingma_errors.LingmaError) -> ApiError:
    """Translate a Lingma core error into an ApiError."""
    for cls in type(err).__mro__:
        if cls in _LINGMA_TABLE:
            status, hint, headers = _LINGMA_TABLE[cls]
            break
    message = err.message.strip()
    if hint:
        message = (message.rstrip(".") + ". " if message else "") + hint
    headers = dict(headers)
    if err.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(err.retry_after)))
    elif status == 429 and isinstance(err, lingma_errors.LingmaBusyError):
        headers["Retry-After"] = "1"
    kind = "insufficient_quota" if err.kind == "insufficient_quota" else None
    param = "messages" if err.kind == "context_length_exceeded" else None
    return ApiError(status, message, type=kind, param=param, code=err.kind, headers=headers)
