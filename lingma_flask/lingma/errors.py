"""Typed errors raised by the Lingma core, one per failure a client must be told about."""

from __future__ import annotations

import re
from typing import Any


class LingmaError(Exception):
    """Base of every error the core raises; `kind` is a short machine-readable code."""

    kind = "lingma_error"

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class LingmaNotReadyError(LingmaError):
    """No Lingma instance is ready (still starting, or failed to start)."""

    kind = "lingma_not_ready"


class LingmaWorkDirBusyError(LingmaNotReadyError):
    """Another gateway holds the lock on this work root."""

    kind = "lingma_work_dir_busy"


class LingmaNotLoggedInError(LingmaError):
    """Lingma runs but has no logged-in account."""

    kind = "lingma_not_logged_in"


class LingmaBusyError(LingmaError):
    """Every instance is at its concurrency limit and no slot freed up in time."""

    kind = "lingma_busy"


class LingmaRateLimitError(LingmaError):
    """Lingma's cloud rate-limited the request (statusCode 429)."""

    kind = "rate_limit_exceeded"


class LingmaQuotaError(LingmaRateLimitError):
    """The account's quota is exhausted; retrying will not help."""

    kind = "insufficient_quota"


class LingmaForbiddenError(LingmaError):
    """Lingma refused the request for an account reason other than quota (403)."""

    kind = "lingma_forbidden"


class LingmaContentFilterError(LingmaError):
    """Lingma's content filter blocked the prompt or the answer (406, 601)."""

    kind = "content_filter"


class LingmaTimeoutError(LingmaError):
    """A stream deadline passed: `phase` is first_token, idle, total or upstream."""

    kind = "lingma_timeout"

    def __init__(self, message: str, *, phase: str = "upstream", retry_after: float | None = None):
        super().__init__(message, retry_after=retry_after)
        self.phase = phase


class LingmaUpstreamError(LingmaError):
    """Lingma reported a failure of its own or of its cloud (500, business codes)."""

    kind = "lingma_upstream_error"

    def __init__(self, message: str, *, status_code: int | None = None, retry_after: float | None = None):
        super().__init__(message, retry_after=retry_after)
        self.status_code = status_code


class LingmaConnectionError(LingmaError):
    """The connection to Lingma broke or could not be made."""

    kind = "lingma_connection_error"


class LingmaProtocolError(LingmaConnectionError):
    """Lingma sent something the wire protocol does not allow (e.g. an oversized frame)."""

    kind = "lingma_protocol_error"


class LingmaRpcError(LingmaError):
    """Lingma answered a JSON-RPC request with an error object."""

    kind = "lingma_rpc_error"

    def __init__(self, method: str, code: int | None, message: str):
        super().__init__(f"Lingma {method} failed: {message} (code {code})")
        self.method = method
        self.code = code


class LingmaPromptTooLargeError(LingmaError):
    """The rendered prompt is over the gateway's limit (LINGMA_MAX_PROMPT_CHARS); nothing was sent."""

    kind = "context_length_exceeded"


class LingmaShutdownError(LingmaError):
    """The gateway is shutting down and ended the stream."""

    kind = "lingma_shutdown"


class LingmaCancelledError(LingmaError):
    """The stream was cancelled by its consumer."""

    kind = "lingma_cancelled"


_QUOTA_WORDS = re.compile(r"quota|limit exceeded|exhausted|insufficient|额度|配额|用尽|上限", re.I)


def finish_error(status_code: Any, reason: str | None) -> LingmaError | None:
    """Map a `chat/finish` statusCode and reason to an error, or None for success.

    The mapping follows protocol doc 3.9: only 200 is success. A finish without any
    statusCode (builds whose finish record lacks the field) is taken as success too.
    """
    if status_code is None or status_code == "":
        return None
    try:
        code = int(status_code)
    except (TypeError, ValueError):
        code = None
    if code == 200:
        return None
    reason = (reason or "").strip()
    detail = f"Lingma finished with status {code}" + (f": {reason}" if reason else "")
    if code == 401:
        return LingmaNotLoggedInError(
            detail + ": Lingma is not logged in"
        )
    if code == 429:
        if _QUOTA_WORDS.search(reason) and "rate" not in reason.lower():
            return LingmaQuotaError(detail)
        return LingmaRateLimitError(detail)
    if code == 403:
        if _QUOTA_WORDS.search(reason):
            return LingmaQuotaError(detail)
        return LingmaForbiddenError(detail)
    if code in (406, 601):
        return LingmaContentFilterError(detail)
    if code == 408:
        return LingmaTimeoutError(detail, phase="upstream")
    return LingmaUpstreamError(detail, status_code=code)
