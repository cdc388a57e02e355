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
        self.headers = with_retry_advice(status, code, headers or {})

    def body(self) -> dict:
        """Return the OpenAI error envelope."""
        return envelope.openai_error(self.message, self.type, self.param, self.code)


# Whether a client should send the same request again, the one table for every error (item 5
# of issue 16): the official SDKs retry 408, 409, 429 and 5xx unless `x-should-retry` says
# otherwise, and the gateway has already made its own repair turn. code -> (advice, the
# Retry-After sent with `true` unless the error brings its own). Other 4xx statuses are
# `false`; other errors (Lingma failures 502/504, a gateway bug 500, a slow body 408) carry
# no advice, so each client keeps its own rule.
RETRY_ADVICE: dict[str, tuple[bool, str | None]] = {
    "tool_call_invalid": (False, None),        # the answer was repaired once already
    "response_format_invalid": (False, None),
    "insufficient_quota": (False, None),
    "lingma_not_logged_in": (False, None),
    "lingma_forbidden": (False, None),
    "lingma_work_dir_busy": (False, None),     # another gateway holds the work root
    "too_many_failed_attempts": (False, None),  # the same wrong key would only prolong it
    "lingma_busy": (True, "1"),
    "rate_limit_exceeded": (True, None),        # Lingma's cloud asked to slow down (its own Retry-After, if any)
    "concurrency_limit_exceeded": (True, "1"),  # a key's open chats (LINGMA_KEY_LIMITS): one ends soon
    "daily_token_limit_exceeded": (False, None),  # a key's daily budget: not before midnight UTC
    "lingma_not_ready": (True, "5"),            # starting or restarting
    "lingma_shutdown": (True, "1"),             # another worker takes the retry
}
NO_ADVICE_STATUSES = (408, 429)


def retry_advice(status: int, code: str | None) -> tuple[bool | None, str | None]:
    """Return whether a retry can help (None: no advice) and the Retry-After to send with `true`."""
    if code in RETRY_ADVICE:
        return RETRY_ADVICE[code]
    if 400 <= status < 500 and status not in NO_ADVICE_STATUSES:
        return False, None
    return None, None


def with_retry_advice(status: int, code: str | None, headers: dict[str, str]) -> dict[str, str]:
    """Return the headers with `x-should-retry` (and a default `Retry-After`) by `retry_advice`."""
    headers = dict(headers)
    given = {name.lower() for name in headers}
    advice, after = retry_advice(status, code)
    if advice is None or "x-should-retry" in given:
        return headers
    headers["x-should-retry"] = "true" if advice else "false"
    if advice and after is not None and "retry-after" not in given:
        headers["Retry-After"] = after
    return headers


# class -> (status, hint appended to the message); the retry headers come from RETRY_ADVICE
_LINGMA_TABLE = {
    lingma_errors.LingmaNotReadyError: (
        503, "Lingma is not ready yet (starting, or failed to start): see GET /health and the"
        " server log; set LINGMA_BIN to the Lingma binary, or LINGMA_ATTACH (auto, a port or a"
        " socket) to use a running one."),
    lingma_errors.LingmaNotLoggedInError: (
        503, "Log it in at the gateway's status page, /admin/ (or point LINGMA_LOGIN_FROM at a"
        " logged-in Lingma cache)."),
    lingma_errors.LingmaBusyError: (
        429, "Every Lingma slot is busy; retry shortly (raise LINGMA_MAX_CONCURRENCY or"
        " LINGMA_POOL_SIZE for more)."),
    lingma_errors.LingmaRateLimitError: (429, ""),
    lingma_errors.LingmaQuotaError: (429, ""),
    lingma_errors.LingmaForbiddenError: (403, ""),
    lingma_errors.LingmaContentFilterError: (400, ""),
    lingma_errors.LingmaTimeoutError: (504, ""),
    lingma_errors.LingmaUpstreamError: (502, ""),
    lingma_errors.LingmaConnectionError: (502, ""),
    lingma_errors.LingmaRpcError: (502, ""),
    lingma_errors.LingmaShutdownError: (503, "Retry in a moment."),
    lingma_errors.LingmaPromptTooLargeError: (400, ""),
    lingma_errors.LingmaCancelledError: (500, ""),
    lingma_errors.LingmaError: (502, ""),
}


def from_lingma(err: lingma_errors.LingmaError) -> ApiError:
    """Translate a Lingma core error into an ApiError."""
    for cls in type(err).__mro__:
        if cls in _LINGMA_TABLE:
            status, hint = _LINGMA_TABLE[cls]
            break
    message = err.message.strip()
    if hint:
        message = (message.rstrip(".") + ". " if message else "") + hint
    headers: dict[str, str] = {}
    if err.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(err.retry_after)))
    kind = "insufficient_quota" if err.kind == "insufficient_quota" else None
    param = "messages" if err.kind == "context_length_exceeded" else None
    return ApiError(status, message, type=kind, param=param, code=err.kind, headers=headers)
