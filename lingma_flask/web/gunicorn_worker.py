"""gunicorn's gevent worker, answering the requests gunicorn itself refuses in JSON.

A request line too long, too many headers, a transfer coding gunicorn does not know: these
never reach the app, and gunicorn would answer them with an HTML page. This worker writes the
error envelope of the face the request was for (Anthropic's on /v1/messages, OpenAI's
elsewhere) and logs one line with a request id. gunicorn's master imports this module (through
gunicorn.conf.py) before it forks, so it imports only the stdlib, gunicorn and web/envelope.py
(stdlib only).
"""

from __future__ import annotations

import re

from gunicorn import util
from gunicorn.config import Config
from gunicorn.glogging import Logger
from gunicorn.http import wsgi
from gunicorn.http.message import Message
from gunicorn.workers.ggevent import GeventWorker

from ..ids import hex_id
from ..lingma.sockets import send_all
from . import envelope

_PARSE_ERRORS = {
    "LimitRequestLine": (414, "URI Too Long", "uri_too_long"),
    "LimitRequestHeaders": (431, "Request Header Fields Too Large", "headers_too_large"),
    "UnsupportedTransferCoding": (501, "Not Implemented", "unsupported_transfer_coding"),
    "ExpectationFailed": (417, "Expectation Failed", "expectation_failed"),
    "ForbiddenProxyRequest": (403, "Forbidden", "forbidden"),
}


# The Anthropic face's paths answer in Anthropic's envelope, as the app does.
ANTHROPIC_PATH = "/v1/messages"


_REQUEST_LINE = re.compile(rb"[A-Z]+ (/[^ ?#\r\n]*)")


def _parsed_path(req, exc) -> str:
    """The path of the request gunicorn refused ("" when not even that was read).

    A request that fails while it is parsed never becomes `req`; the parser's half-built
    request object, or the raw bytes it was reading (a request line too long to parse), are
    still in the traceback's frames.
    """
    if isinstance(getattr(req, "path", None), str):
        return req.path
    tb = exc.__traceback__
    while tb is not None:
        names = tb.tb_frame.f_locals
        candidate = names.get("self")
        path = getattr(candidate, "path", None) if isinstance(candidate, Message) else None
        if isinstance(path, str):  # a parsed Request has one; the Message base class does not
            return path
        raw = names.get("data")
        match = _REQUEST_LINE.match(raw) if isinstance(raw, (bytes, bytearray)) else None
        if match:
            return match.group(1).decode("latin-1")
        tb = tb.tb_next
    return ""


def _error_body(path: str, status: int, message: str, code: str, request_id: str) -> bytes:
    """The error envelope of the refused request's face (OpenAI's, or Anthropic's).

    Its `type` follows only the status class, coarser than the app's tables in envelope.py
    (a refused 403 reads `invalid_request_error` here): kept as gunicorn's refusals answered.
    """
    if path == ANTHROPIC_PATH or path.startswith(ANTHROPIC_PATH + "/"):
        kind = "invalid_request_error" if status < 500 else "api_error"
        return envelope.to_bytes(envelope.anthropic_error(kind, message, request_id))
    kind = "invalid_request_error" if status < 500 else "server_error"
    return envelope.to_bytes(envelope.openai_error(message, kind, None, code))


class HeldHeadersResponse(wsgi.Response):
    """gunicorn's HTTP/1 response, its head sent in the same write as the body's first bytes.

    gunicorn writes the status line and headers with one `sendall` and each body chunk with
    another; a stream's role chunk follows its headers at once, and a JSON answer's body
    follows its headers at once, so one system call (and one wake-up of the client) per
    request is saved by holding the head until the first body write. A write that sends no
    body bytes (an empty chunk, a HEAD) sends the head at its end, so nothing is held longer
    than before; `sendfile`, which writes to the socket itself, is not used.
    """

    _held = b""

    def send_headers(self):
        """Hold the head until the first body bytes (or the end of this write)."""
        if self.headers_sent:
            return
        lines = self.default_headers() + [f"{name}: {value}\r\n" for name, value in self.headers]
        self._held = ("".join(lines) + "\r\n").encode("latin-1")
        self.headers_sent = True

    def write(self, arg):
        """Write a body piece; the head goes with it, or alone when it has no bytes."""
        super().write(arg)
        self._flush()

    def _emit_body(self, data):
        if self.chunked:
            data = b"%X\r\n%b\r\n" % (len(data), data)
        held, self._held = self._held, b""
        send_all(self.sock, held + data if held else data)

    def close(self):
        """End the body: the last chunk, with the head when no body was written."""
        self.send_headers()
        held, self._held = self._held, b""
        end = held + (b"0\r\n\r\n" if self.chunked else b"")
        if end:
            send_all(self.sock, end)

    def can_sendfile(self):
        """Never: `sendfile` writes its chunk framing to the socket before the held head."""
        return False

    def _flush(self):
        held, self._held = self._held, b""
        if held:
            send_all(self.sock, held)


class SettledConfig(Config):
    """gunicorn's settings in a worker, where they no longer change: each looked up once.

    `Config` finds every setting through `__getattr__` and the setting's object, and the HTTP
    parser and the worker read some thirty per request. The master changes settings only
    before it forks (a reload forks new workers), so the worker keeps each value it read as a
    plain attribute.
    """

    def __getattr__(self, name):
        value = super().__getattr__(name)
        object.__setattr__(self, name, value)  # past Config.__setattr__, which forbids setting names
        return value


class JsonErrorWorker(GeventWorker):
    """gunicorn's gevent worker, answering malformed requests with a JSON error envelope, and
    sending each response's head with its first body bytes (`HeldHeadersResponse`)."""

    # set by the app (ops/lifecycle.py): told at once when SIGTERM arrives
    on_exit_signal = None

    def init_process(self):
        """Make HTTP/1 responses `HeldHeadersResponse`s and the settings `SettledConfig`, in
        this worker process only.

        gunicorn's async worker builds each response with `wsgi.create`, whose default class
        is the module's `Response`; HTTP/2 passes its own class and is unaffected.
        """
        wsgi.Response = HeldHeadersResponse  # type: ignore[misc]  # a subclass, by design
        self.cfg.__class__ = SettledConfig  # this process's copy; the master's keeps its class
        super().init_process()

    def handle_exit(self, sig, frame):
        """SIGTERM: stop, and tell the app at once, before Lingma's own SIGTERM (a PaaS sends
        one to every process) ends its chats as if it had crashed."""
        super().handle_exit(sig, frame)
        if self.on_exit_signal is not None:
            self.on_exit_signal()

    def handle_error(self, req, client, addr, exc):
        """Write one JSON error (400 for a malformed request) and log one line with its id."""
        parse_error = any(c.__name__ == "ParseException" for c in type(exc).__mro__)
        status, reason, code = _PARSE_ERRORS.get(type(exc).__name__, (
            (400, "Bad Request", "invalid_request") if parse_error
            else (500, "Internal Server Error", "internal_error")))
        request_id = "req_" + hex_id()
        if parse_error:
            self.log.warning("Invalid request %s from ip=%s: %s", request_id,
                             (addr or ("",))[0], exc)
        else:
            self.log.exception("Error handling request %s", request_id)
        message = f"{reason}: {exc}"[:300] if parse_error else "The gateway hit an internal error."
        body = _error_body(_parsed_path(req, exc), status, message, code, request_id)
        head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: "
                f"application/json\r\nContent-Length: {len(body)}\r\n"
                f"x-request-id: {request_id}\r\n\r\n")
        try:
            util.write_nonblock(client, head.encode("latin-1") + body)
        except Exception:
            self.log.debug("Failed to send error message.")


class NoAccessLogger(Logger):
    """gunicorn's logger without its access line, which the app's own request line replaces.

    With `logconfig_dict` set, gunicorn builds the access line's atoms (every header of the
    request) for each request even though `gunicorn.access` writes nothing (level CRITICAL, no
    handler): about 2 % of the worker's CPU on a burst (docs/benchmarks.md). Nothing is lost.
    """

    def access(self, resp, req, environ, request_time):
        """Write no access line."""
