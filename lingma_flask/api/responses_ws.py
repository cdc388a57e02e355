"""GET /v1/responses with a WebSocket upgrade: the Responses API over one persistent connection
(Codex CLI's `responses_websockets`, `client.responses.connect()` of the openai SDK).

The client sends `{"type": "response.create", ...}` text messages, each the body of a
POST /v1/responses (`stream` implied; `generate` and `stream_id` are the socket's own
fields), and gets back each response's events as the SSE stream has them
(`responses_stream.py`, the same encoder), one JSON text message per event. Requests are
answered one at a time, in order.

* Auth, Host/Origin guards and model names are the HTTP face's (the upgrade is a request of
  this blueprint); each message is bounded like a body (LINGMA_MAX_BODY_BYTES, arriving within
  LINGMA_BODY_TIMEOUT) and decoded by the same strict JSON reader.
* A request refused before its response starts (a bad body, an unknown model, busy) gets one
  `{"type": "error", "status", "error", "headers"}` message, as HTTP would have answered, and
  the connection stays open; a failure later ends the response with `response.failed`.
* `previous_response_id` names a stored response (as over HTTP: shared by every worker) or the
  connection's last one, which is kept for the connection, in this worker's memory only, even
  with `store: false` (what Codex sends); a response with `generate: false` only records its
  input, to be continued.
* While Lingma is quiet a repeated `response.in_progress` event keeps the client's idle timer
  (Codex's) from firing; an idle connection gets pings. A client that hangs up mid-response
  cancels the chat at the next event or keepalive, as an SSE client does.
* An idle connection is closed after IDLE_LIMIT seconds, or at once (1001) when the worker
  shuts down; the client opens a new one.
* Each response writes its own log line (method `WS`); the upgrade's line (status 101) is
  written when the connection ends.

A plain GET (or an upgrade a proxy stripped on the way) and a server that cannot hand its
socket over (the Flask test client) get 426 Upgrade Required, which Codex takes as "no
WebSockets here" and answers over HTTP at once.
"""

from __future__ import annotations

import json
import logging
import time

from flask import Blueprint
from flask import request

from ..extension import get_observers
from ..extension import get_pool
from ..extension import get_settings
from ..ids import hex_id
from ..jsontext import compact
from ..lingma.errors import LingmaError
from ..pipeline import job as pipeline
from ..pipeline.events import Finish
from ..pipeline.events import Usage
from ..pipeline.targets import resolve_target
from ..pipeline.tools.freeform import freeform_names
from ..web import websocket
from ..web.apierror import from_lingma
from ..web.auth import require_api_key
from ..web.body import decode_json
from ..web.connection import WATCHDOG
from ..web.connection import client_socket
from ..web.errors import ApiError
from ..web.errors import register_envelope
from ..web.identity import LOCAL
from ..web.identity import current_key_name
from ..web.limits import admit
from ..web.record import RequestRecord
from ..web.requestlog import current_record
from .face import context
from .face import encoded_frames
from .responses import get_store
from .responses import keep
from .responses import render_error
from .responses_request import ResponsesRequest
from .responses_request import parse_responses_request
from .responses_shapes import ResponseHead
from .responses_stream import ResponseEncoder

log = logging.getLogger(__name__)

bp = Blueprint("responses_ws", __name__)
bp.before_request(require_api_key)
register_envelope(bp.name, render_error)

IDLE_LIMIT = 3600.0   # seconds an idle connection is kept (OpenAI's own limit is 60 minutes)
POLL = 1.0            # how often an idle connection looks at the clock and the worker's state
SOCKET_ONLY = ("type", "generate", "stream_id")   # fields of the socket, not of the body
METHOD = "WS"         # the method in each response's log line


# Werkzeug matches an upgrade request only against rules marked `websocket`; the plain GETs
# are there to answer 426 (a proxy that drops `Upgrade` turns the handshake into one).
@bp.route("/v1/responses", methods=["GET"], websocket=True)
@bp.route("/responses", methods=["GET"], websocket=True)
@bp.get("/v1/responses")
@bp.get("/responses")
def responses_socket():
    """Accept the upgrade and answer `response.create` messages until the connection ends."""
    environ = request.environ
    sock = client_socket(environ)
    if not websocket.is_upgrade(environ):
        raise upgrade_required("send 'Upgrade: websocket'")
    if sock is None:
        raise upgrade_required("this server cannot hand its socket over; gunicorn and the dev"
                               " server can")
    token = websocket.accept_token(environ)
    record = current_record()
    sock.sendall(websocket.handshake_response(token, {"x-request-id": record.id}))
    record.status = 101
    settings = get_settings()
    ws = websocket.WebSocket(sock, settings.max_body_bytes, settings.body_timeout,
                             settings.write_timeout)
    try:
        SocketSession(ws).serve()
    finally:
        ws.close(*ending())
        if ws.close_code in websocket.REFUSALS:   # we ended it: say why in its log line
            record.error = f"websocket_closed_{ws.close_code}"
    return websocket.hijacked()


def upgrade_required(why: str) -> ApiError:
    """The 426 that tells a client (Codex) to use HTTP instead, at once."""
    return ApiError(426, f"GET /v1/responses is the Responses API over a WebSocket ({why});"
                    " over HTTP, POST /v1/responses.", code="upgrade_required",
                    headers={"Upgrade": "websocket"})


def ending() -> tuple[int, str]:
    """The close code and reason the server ends a connection with (when it still can)."""
    if WATCHDOG.draining_since is not None:
        return websocket.GOING_AWAY, "the gateway is shutting down: reconnect"
    return websocket.NORMAL, ""


class SocketSession:
    """One WebSocket's requests, answered in turn; remembers the connection's last response."""

    def __init__(self, ws: websocket.WebSocket):
        self.ws = ws
        self.settings = get_settings()
        self.store = get_store()
        self.key_name = current_key_name()
        self.owner = self.key_name or LOCAL
        self.local_owner = f"{self.owner}#ws:{hex_id()}"  # the connection's own entries
        self.local_id: str | None = None   # its last response kept only for the connection

    def serve(self) -> None:
        """Answer messages until the client closes, the connection idles out, or we shut down."""
        idle_since = last_ping = time.monotonic()
        keepalive = self.settings.sse_keepalive
        try:
            while True:
                message = self.ws.receive(POLL)
                now = time.monotonic()
                if isinstance(message, websocket.Closed):
                    return
                if message is not None:
                    self.answer(message)
                    idle_since = last_ping = time.monotonic()
                elif WATCHDOG.draining_since is not None or now - idle_since > IDLE_LIMIT:
                    return
                elif keepalive > 0 and now - last_ping >= keepalive:
                    self.ws.ping()
                    last_ping = now
        except ConnectionError:
            return
        finally:
            if self.local_id is not None:
                self.store.discard(self.local_id)

    def history(self, response_id: str):
        """The conversation a `previous_response_id` names: the connection's or a stored one."""
        return (self.store.memory.lookup(response_id, self.local_owner)
                or self.store.lookup(response_id, self.owner))

    # -- one request ---------------------------------------------------------------------------

    def answer(self, text: str) -> None:
        """Answer one message: a response's events, or one `error` message."""
        record = RequestRecord("req_" + hex_id(), METHOD, request.path, get_observers(),
                               client=request.remote_addr)
        rule = request.url_rule.rule if request.url_rule is not None else None
        record.key, record._rule, record.stream = self.key_name, rule, True
        stream_id = None
        try:
            data = decode_json(text.encode())
            stream_id = data.get("stream_id") if isinstance(data.get("stream_id"), str) else None
            if data.get("type") == "response.processed":   # Codex's acknowledgement: no answer
                return
            self.respond(data, record, stream_id)
        except (ApiError, LingmaError) as exc:
            error = from_lingma(exc) if isinstance(exc, LingmaError) else exc
            record.status, record.error = error.status, error.code or error.type
            self.ws.send([error_message(error, stream_id)])
        except ConnectionError:
            raise
        except Exception:   # a bug must not leave the client waiting, nor end the connection
            log.exception("WebSocket request %s failed", record.id)
            error = ApiError(500, "The gateway hit an internal error; see the server log.",
                             code="internal_error")
            record.status, record.error = 500, "internal_error"
            self.ws.send([error_message(error, stream_id)])
        finally:
            record.write()

    def respond(self, data: dict, record: RequestRecord, stream_id: str | None) -> None:
        """Validate a `response.create`, then stream its response (raise ApiError before)."""
        kind = data.get("type")
        if kind != "response.create":
            raise ApiError(400, f"Unknown message type {str(kind)[:60]!r}: this WebSocket takes"
                           " 'response.create' messages.", param="type", code="invalid_value")
        generate = data.get("generate", True)
        if not isinstance(generate, bool):
            raise ApiError(400, "'generate' must be a boolean.", param="generate",
                           code="invalid_type")
        body = {k: v for k, v in data.items() if k not in SOCKET_ONLY}
        body["stream"] = True
        parsed = parse_responses_request(body, self.history, require_input=generate)
        chat = parsed.chat
        record.model = chat.model
        if not generate:
            self.record_only(parsed, record, stream_id)
            return
        admit(record)
        job = pipeline.start(chat, record, context())
        record.status = 200
        head = ResponseHead(job.target.name, parsed.echo, custom_tools=freeform_names(chat.tools))
        encoder = ResponseEncoder(head, lambda answer, calls: self.remember(
            head.id, parsed, lambda store, who: keep(store, head.id, who, parsed, answer, calls)))
        self.ws.guard.deadline = time.monotonic() + self.settings.total_timeout
        frames = encoded_frames(job, encoder, self.settings.sse_keepalive)
        try:
            for chunk in frames:
                if self.ws.closed.is_set():
                    break   # closing the frames ends the chat (and notes the disconnect)
                messages = sse_messages(chunk, stream_id)
                if messages:
                    self.ws.send(messages)
        except ConnectionError:
            pass
        finally:
            frames.close()
            self.ws.guard.deadline = None

    def record_only(self, parsed: ResponsesRequest, record: RequestRecord,
                    stream_id: str | None) -> None:
        """`generate: false`: a completed response with no output, whose input is kept."""
        chat = parsed.chat
        head = ResponseHead(model_name(chat.model), parsed.echo,
                            custom_tools=freeform_names(chat.tools))
        record.status, record.finish_reason = 200, "stop"
        encoder = ResponseEncoder(head, lambda answer, calls: self.remember(
            head.id, parsed, lambda store, who: store.put(head.id, parsed.conversation, who)))
        frames = list(encoder.open()) + list(encoder.event(Finish("stop", Usage(0, 0))))
        self.ws.send(sse_messages("".join(frames).encode(), stream_id))

    def remember(self, response_id: str, parsed: ResponsesRequest, put) -> None:
        """Keep a finished response: stored for its key (unless `store: false`), and as the
        connection's last response either way (in memory only); the connection's previous one
        is let go."""
        if parsed.previous_id is not None:
            self.store.touch(parsed.previous_id)
        if self.local_id is not None:
            self.store.discard(self.local_id)
            self.local_id = None
        if parsed.store:
            put(self.store, self.owner)
        else:
            put(self.store.memory, self.local_owner)
            self.local_id = response_id


def model_name(requested: str | None) -> str:
    """The model a response names without asking Lingma (an unknown name is a 404, as ever)."""
    try:
        return resolve_target(requested, get_pool(), get_settings().model_aliases).name
    except LingmaError:   # no model list yet: the name as asked
        return requested or "default"


def error_message(error: ApiError, stream_id: str | None = None) -> str:
    """The `error` message of a request refused before its response began."""
    body, status, headers = render_error(error)
    payload = {"type": "error", "status": status, "error": {**body["error"], "headers": headers},
               "headers": headers}
    if stream_id is not None:
        payload["stream_id"] = stream_id
    return compact(payload)


def sse_messages(chunk: bytes, stream_id: str | None = None) -> list[str]:
    """The JSON of each SSE event in a chunk of frames (comments dropped), one message each.

    An event's JSON is one `data:` line (json.dumps escapes newlines), and frames end with a
    blank line. With a `stream_id` (the request's lane) every event carries it.
    """
    messages = []
    for frame in chunk.decode().split("\n\n"):
        for line in frame.split("\n"):
            if line.startswith("data: "):
                data = line[6:]
                if stream_id is not None and data.startswith("{"):
                    data = '{"stream_id":' + json.dumps(stream_id) + "," + data[1:]
                messages.append(data)
    return messages
