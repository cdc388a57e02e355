"""One exception type and one set of handlers: every error leaves as the OpenAI envelope.

`{"error": {"message", "type", "param", "code"}}` with the right status, never HTML and never
a traceback. Lingma's typed errors are mapped by the table in docs/architecture.md
(`ApiError` and that map live in the Flask-free `apierror.py`; imported from here too).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask
from flask import request
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import RequestEntityTooLarge

from ..lingma import errors as lingma_errors
from .apierror import ApiError
from .apierror import from_lingma
from .requestlog import current_record

log = logging.getLogger(__name__)


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
