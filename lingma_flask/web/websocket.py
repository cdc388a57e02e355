"""WebSocket connections (RFC 6455) on the WSGI server's own socket: the handshake, then text
messages both ways, bounded like an HTTP body and timed like a streamed one.

gunicorn (its gevent worker) and Werkzeug's dev server expose the client's socket
(`connection.client_socket`); a view that accepts an upgrade answers the handshake on it
itself, keeps it for the connection's life, and finally returns `hijacked()`: a response the
server never writes (gunicorn closes the socket on StopIteration, Werkzeug on ConnectionError).
Frames are wsproto's (a sans-IO codec: no thread or socket of its own); no extension is
negotiated, so no compressed message can inflate past the size limit.

* One reader thread (a greenlet under gevent) reads the socket, answers pings and closes, and
  queues each whole text message; a message over `max_message` bytes, one still incomplete
  `message_timeout` seconds after its first byte, more than `MAX_PENDING` messages waiting, or
  a binary message end the connection (1009, 1008, 1008, 1003).
* Writes are serialised (the reader's pongs and the view's messages), each batch in one
  `sendall` timed by connection.py's `WriteGuard`: a client that stops reading for
  `write_timeout` seconds is dropped, as for any response body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import queue
import socket
import threading
import time

from flask import Response
from wsproto.connection import Connection
from wsproto.connection import ConnectionState
from wsproto.connection import ConnectionType
from wsproto.events import BytesMessage
from wsproto.events import CloseConnection
from wsproto.events import Ping
from wsproto.events import TextMessage
from wsproto.utilities import LocalProtocolError

from .connection import READ_STEP
from .connection import WATCHDOG
from .connection import WriteGuard
from .connection import shutdown
from .errors import ApiError

log = logging.getLogger(__name__)

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"   # RFC 6455 section 1.3
VERSION = "13"
MAX_PENDING = 16       # whole messages waiting while the view is busy with an earlier one
CLOSE_WAIT = 2.0       # seconds to wait for the client's answer to our close frame

NORMAL, GOING_AWAY, UNSUPPORTED, POLICY, TOO_BIG, SERVER_ERROR = 1000, 1001, 1003, 1008, 1009, 1011
REFUSALS = (UNSUPPORTED, POLICY, TOO_BIG, SERVER_ERROR)   # the codes we close a client out with


class Closed:
    """What `WebSocket.receive` returns once the connection has ended: its close code."""

    def __init__(self, code: int, reason: str = ""):
        self.code, self.reason = code, reason


def is_upgrade(environ) -> bool:
    """Tell whether the request asks to become a WebSocket (`Upgrade: websocket`)."""
    return environ.get("HTTP_UPGRADE", "").strip().lower() == "websocket"


def accept_token(environ) -> str:
    """Check a WebSocket handshake and return its `Sec-WebSocket-Accept`, or raise 400 / 426."""
    tokens = {t.strip().lower() for t in environ.get("HTTP_CONNECTION", "").split(",")}
    if environ.get("REQUEST_METHOD") != "GET" or "upgrade" not in tokens:
        raise ApiError(400, "A WebSocket handshake is a GET with 'Connection: Upgrade'.",
                       code="invalid_request")
    if environ.get("HTTP_SEC_WEBSOCKET_VERSION", "").strip() != VERSION:
        raise ApiError(426, f"Only WebSocket version {VERSION} is spoken here.",
                       code="upgrade_required", headers={"Sec-WebSocket-Version": VERSION})
    key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "").strip()
    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise ApiError(400, "The Sec-WebSocket-Key header is not 16 bytes in base64.",
                       code="invalid_request")
    digest = hashlib.sha1((key + GUID).encode(), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


def handshake_response(token: str, headers: dict[str, str]) -> bytes:
    """The `101 Switching Protocols` answer, with our own (header-safe) `headers`."""
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {token}"]
    lines += [f"{name}: {value}" for name, value in headers.items()
              if "\r" not in value and "\n" not in value]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _HijackedResponse(Response):
    """The response of a view that took the socket over: closing it writes the request's log
    line (call_on_close), and the server is told to write nothing and drop the connection."""

    def __call__(self, environ, start_response):
        self.close()
        if "gunicorn.socket" in environ:
            raise StopIteration   # gunicorn's worker: "Closing connection", nothing written
        raise ConnectionError("the WebSocket connection has ended")  # Werkzeug: dropped


def hijacked() -> Response:
    """What a view returns once its WebSocket connection has ended (its status says 101)."""
    return _HijackedResponse(status=101)


class _MessageDeadline:
    """Shut the socket's read side when a message is still incomplete at its deadline."""

    def __init__(self, ws: WebSocket, timeout: float):
        self.ws, self.timeout, self.fired = ws, timeout, False

    def check(self, now: float) -> bool:
        started = self.ws.partial_since
        if self.ws.closed.is_set():
            return True
        if started is None or now - started <= self.timeout:
            return False
        self.fired = True
        shutdown(self.ws.sock, socket.SHUT_RD)
        return True


class WebSocket:
    """One accepted WebSocket on the client's socket (after `handshake_response` was sent)."""

    def __init__(self, sock, max_message: int, message_timeout: float, write_timeout: float,
                 watchdog=WATCHDOG):
        self.sock = sock
        self.max_message = max_message
        self._conn = Connection(ConnectionType.SERVER)
        self._lock = threading.Lock()   # the codec's state and the socket's writes
        self._messages: queue.Queue = queue.Queue()
        self._parts: list[str] = []
        self._size = 0
        self.partial_since: float | None = None   # when the incomplete message began
        self.closed = threading.Event()            # the connection has ended (either side)
        self.close_code: int | None = None
        self.guard = WriteGuard(sock, write_timeout)
        self._watchdog = watchdog
        self._deadline = _MessageDeadline(self, message_timeout)
        watchdog.arm(self.guard)
        watchdog.arm(self._deadline)
        self._reader = threading.Thread(target=self._read, name="lingma-websocket-reader",
                                        daemon=True)
        self._reader.start()

    # -- receiving ----------------------------------------------------------------------------

    def receive(self, timeout: float) -> str | Closed | None:
        """The next whole text message, `Closed` once the connection has ended, or None if
        nothing came within `timeout` seconds."""
        try:
            return self._messages.get(timeout=timeout)
        except queue.Empty:
            return None

    def _read(self) -> None:
        try:
            while not self.closed.is_set():
                try:
                    data = self.sock.recv(READ_STEP)
                except OSError:
                    data = b""
                if not self._take(data):
                    return
        except ConnectionError:   # a pong or close frame could not be written: it has ended
            pass
        except Exception:   # never let the reader die silently: the view would wait forever
            log.exception("WebSocket reader failed")
            self._end(SERVER_ERROR)
        finally:
            self._end(self.close_code or 1006)
            if self._deadline.fired:
                log.info("WebSocket message not complete in time: connection closed")

    def _take(self, data: bytes) -> bool:
        """Feed received bytes to the codec and act on its events; False once it has ended."""
        with self._lock:
            if self._conn.state is ConnectionState.CLOSED:
                return False
            self._conn.receive_data(data or None)
            for event in self._conn.events():
                if isinstance(event, TextMessage):
                    if not self._add(event):
                        return False
                elif isinstance(event, BytesMessage):
                    self._close_locked(UNSUPPORTED, "binary messages are not supported")
                    return False
                elif isinstance(event, Ping):
                    self._write_locked(self._conn.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if self._conn.state is ConnectionState.REMOTE_CLOSING:
                        self._write_locked(self._conn.send(event.response()))
                    self.close_code = self.close_code or event.code
                    return False
        return bool(data)

    def _add(self, event: TextMessage) -> bool:
        """Add a piece of a text message; queue it when whole. False: the connection ends."""
        if self.partial_since is None:
            self.partial_since = time.monotonic()
        self._parts.append(event.data)
        self._size += len(event.data)   # characters: never more than its UTF-8 bytes
        if self._size > self.max_message:
            self._close_locked(TOO_BIG, f"a message is limited to {self.max_message} bytes")
            return False
        if not event.message_finished:
            return True
        text, self._parts, self._size, self.partial_since = "".join(self._parts), [], 0, None
        if len(text.encode()) > self.max_message:
            self._close_locked(TOO_BIG, f"a message is limited to {self.max_message} bytes")
            return False
        if self._messages.qsize() >= MAX_PENDING:
            self._close_locked(POLICY, f"more than {MAX_PENDING} requests waiting")
            return False
        self._messages.put(text)
        return True

    # -- sending ------------------------------------------------------------------------------

    def send(self, messages: list[str]) -> None:
        """Send text messages in one write; raise ConnectionError if the connection has ended."""
        with self._lock:
            if self.closed.is_set() or self._conn.state is not ConnectionState.OPEN:
                raise ConnectionError("the WebSocket connection has ended")
            self._write_locked(b"".join(self._conn.send(TextMessage(data=m)) for m in messages))

    def ping(self) -> None:
        """Send a ping (keeps proxies from closing an idle connection); errors are ignored."""
        with self._lock:
            if self._conn.state is ConnectionState.OPEN:
                try:
                    self._write_locked(self._conn.send(Ping()))
                except OSError:
                    pass

    def close(self, code: int = NORMAL, reason: str = "") -> None:
        """End the connection: a close frame, a short wait for the client's, then the socket."""
        with self._lock:
            try:
                self._close_locked(code, reason)
            except OSError:
                pass
        self._reader.join(CLOSE_WAIT)
        self._end(code)
        shutdown(self.sock)
        self._reader.join(CLOSE_WAIT)

    def _close_locked(self, code: int, reason: str) -> None:
        if self._conn.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            self.close_code = self.close_code or code
            self._write_locked(self._conn.send(CloseConnection(code=code, reason=reason[:120])))

    def _write_locked(self, data: bytes) -> None:
        if not data:
            return
        self.guard.writing(time.monotonic())
        try:
            self.sock.sendall(data)
        except (OSError, LocalProtocolError) as exc:
            self._end(1006)
            raise ConnectionError("the WebSocket connection has ended") from exc
        finally:
            self.guard.written()

    def _end(self, code: int) -> None:
        """Mark the connection ended (once): wake `receive`, stop the watchdog's checks."""
        if self.closed.is_set():
            return
        self.close_code = self.close_code or code
        self.closed.set()
        self._watchdog.disarm(self.guard)
        self._watchdog.disarm(self._deadline)
        self._messages.put(Closed(self.close_code))
