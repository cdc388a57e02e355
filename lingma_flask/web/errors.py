"""One exception type and one set of handlers: every error leaves as the OpenAI envelope.

`{"error": {"message", "type", "param", "code"}}` with the right status, never HTML and never
a traceback. Lingma's typed errors are mapped by the table in docs/architecture.md.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from flask import Flask
from flask import request
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import RequestEntityTooLarge

from ..lingma import errors as lingma_errors
from . import envelope
from .requestlog import current_record

log = logging.getLogger(__name__)


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
        503, "Lingma is not logged in: log in once in the IDE plugin (or copy a logged-in cache"
        " with LINGMA_LOGIN_FROM), then retry.", {"x-should-retry": "false"}),
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
    lingma_errors.LingmaShutdownError: (503, "The gateway is shutting down; retry.",
                                        {"Retry-After": "1"}),
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


def from_http(exc: HTTPException) -> ApiError:
    """Translate a Werkzeug HTTP error (404, 405, 413, ...) into an ApiError."""
    status = exc.code or 500
    if isinstance(exc, RequestEntityTooLarge):
        return ApiError(413, "The request body is too large (limit: LINGMA_MAX_BODY_BYTES ="
                        f" {request.max_content_length} bytes).", code="request_too_large")
    if status == 404:
        return ApiError(404, f"Invalid URL ({request.method} {request.path}).", code="unknown_url")
    if status == 405:
        headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
        return ApiError(405, f"Method {request.method} is not allowed for {request.path}.",
                        code="method_not_allowed", headers=headers)
    return ApiError(status, exc.description or exc.name, code=exc.name.lower().replace(" ", "_"))


# blueprint name -> callable(ApiError) -> (body, status, headers): faces with their own envelope
_ENVELOPES: dict[str, Callable[[ApiError], tuple]] = {}
# path prefix -> the same, for requests no route matched (a wrong method, an unknown sub-path)
_PREFIXES: dict[str, Callable[[ApiError], tuple]] = {}


def register_envelope(blueprint: str, render_error: Callable[[ApiError], tuple],
                      prefix: str | None = None) -> None:
    """Render errors of `blueprint`'s requests with the face's own envelope (e.g. Anthropic's).

    With `prefix`, requests under that path that match no route (405, 404) get it too.
    """
    _ENVELOPES[blueprint] = render_error
    if prefix is not None:
        _PREFIXES[prefix] = render_error


def envelope_for_request() -> Callable[[ApiError], tuple] | None:
    """Return the current request's face envelope, if its face has one."""
    if request.blueprint:
        return _ENVELOPES.get(request.blueprint)
    path = request.path
    return next((render for prefix, render in _PREFIXES.items()
                 if path == prefix or path.startswith(prefix + "/")), None)


def render(err: ApiError):
    """Build the Flask response for an ApiError (and note its code for the request log)."""
    current_record().error = err.code or err.type
    custom = envelope_for_request()
    if custom is not None:
        return custom(err)
    return err.body(), err.status, err.headers


def handle_exception(exc: Exception):
    """Log an unexpected error with its traceback; answer a bare 500 envelope."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    return render(ApiError(500, "The gateway hit an internal error; see the server log.",
                           code="internal_error"))


def init_app(app: Flask) -> None:
    """Register the handlers that turn every error into the envelope."""
    app.register_error_handler(ApiError, render)
    app.register_error_handler(lingma_errors.LingmaError, lambda e: render(from_lingma(e)))
    app.register_error_handler(HTTPException, lambda e: render(from_http(e)))
    app.register_error_handler(Exception, handle_exception)
