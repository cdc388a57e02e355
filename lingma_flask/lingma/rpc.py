"""`RpcConnection`: one WebSocket to Lingma, the reader thread that owns it, and its writer.

Requests carry integer ids and wait with a timeout; notifications are sent and forgotten.
Every server→client request (`chat/answer`, `chat/finish`, `session/title/update`, ...) is
acknowledged with `{}` by the reader before the push is processed. Nothing is sent from the
caller's thread: messages go to an outbox that one writer thread empties, so the messages
queued meanwhile (a burst's asks, the acks of a read, the sessions to forget) share one socket
write. On loopback a write costs both ends a wake-up, so fewer writes is less CPU on each
side. `chat/answer` and `chat/finish` are routed to the `ChatStream` registered under their
`requestId`; pushes for unknown ids are dropped. When the socket dies every pending request
and open stream is woken at once with a connection error.
"""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

from . import framing
from . import methods
from . import wsframes
from .errors import LingmaConnectionError
from .errors import LingmaError
from .errors import LingmaProtocolError
from .errors import LingmaRpcError
from .errors import LingmaTimeoutError
from .errors import LingmaUpstreamError
from .sockets import send_all

if TYPE_CHECKING:
    from .stream import ChatStream

log = logging.getLogger(__name__)

READ_BLOCK = 256 * 1024
# Bytes the outbox may hold: past this Lingma has stopped reading, and a sender is told so
# instead of queueing without end (the probe then finds the hung Lingma).
MAX_OUTBOX = 64 * 1024 * 1024

# Runs in the reader with the JSON-RPC response to a request sent by `request_nowait`.
ReplyHook = Callable[[dict[str, Any]], None]
# Runs in the reader with the params of a push (after its ack): `push_handlers[method]`.
PushHandler = Callable[[dict[str, Any]], None]
TOOLS_UNAVAILABLE = "tools are not available through the lingma-flask gateway"


class _Pending:
    """A request waiting for its response."""

    __slots__ = ("event", "message", "error")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.message: dict[str, Any] | None = None
        self.error: LingmaError | None = None


class PushWaiter:
    """Someone waiting for one push (a method and the request id inside it)."""

    __slots__ = ("key", "event", "params")

    def __init__(self, key: tuple[str, object]):
        self.key = key
        self.event = threading.Event()
        self.params: dict[str, Any] | None = None

    def wait(self, timeout: float) -> dict[str, Any] | None:
        """Return the push's params, or None after `timeout` seconds (or a lost connection)."""
        self.event.wait(timeout)
        return self.params


def _push_key(params: dict[str, Any]) -> object:
    result = params.get("result")
    inner = result.get("requestId") if isinstance(result, dict) else None
    return inner or params.get("requestId")


class RpcConnection:
    """JSON-RPC over one WebSocket to Lingma, read by a single reader thread."""

    def __init__(self, port: int | str, *, name: str = "lingma", max_frame_bytes: int = framing.DEFAULT_MAX_FRAME,
                 connect_timeout: float = 5.0, headers: list[str] | None = None,
                 on_close: Callable[[RpcConnection, LingmaError], None] | None = None):
        self.port = port
        self.name = name
        self._decoder = framing.FrameDecoder(max_frame_bytes)
        self._frames = wsframes.FrameReader()
        self._connect_timeout = connect_timeout
        self._headers = headers
        self._on_close = on_close
        self._sock: socket.socket | None = None
        self._ids = itertools.count(1)
        self._send_lock = threading.Lock()  # held by the writer while a write is in progress
        self._outbox: list[bytes] = []
        self._outbox_bytes = 0
        self._outbox_lock = threading.Lock()
        self._wake_writer = threading.Event()
        self._state_lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._reply_hooks: dict[int, ReplyHook] = {}
        self._push_waiters: dict[tuple[str, object], PushWaiter] = {}
        # pushes routed by someone else (the ACP adapter's session/update, lingma/acp.py)
        self.push_handlers: dict[str, PushHandler] = {}
        self.streams: dict[str, ChatStream] = {}
        self.closed = threading.Event()
        self.close_error: LingmaError | None = None
        # set while the gateway shuts down: a lost connection then fails streams with this
        self.lost_as: LingmaError | None = None
        self.acks_sent = 0
        self.last_received = time.monotonic()
        self._reader: threading.Thread | None = None
        self._writer: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def connect(self) -> RpcConnection:
        """Open the WebSocket and start the reader thread."""
        try:
            sock = wsframes.open_websocket(self.port, timeout=self._connect_timeout, headers=self._headers)
        except Exception as exc:
            raise LingmaConnectionError(f"cannot connect to Lingma on port {self.port}: {exc}") from exc
        self._sock = sock
        self._reader = threading.Thread(target=self._read_loop, args=(sock,), name=f"{self.name}-reader",
                                        daemon=True)
        self._reader.start()
        self._writer = threading.Thread(target=self._write_loop, args=(sock,), name=f"{self.name}-writer",
                                        daemon=True)
        self._writer.start()
        return self

    def close(self, error: LingmaError | None = None) -> None:
        """Close the socket; the reader then fails every waiter and stream."""
        self._fail_all(error or LingmaConnectionError("the connection to Lingma was closed"))
        sock = self._sock
        if sock is not None:
            self._say_goodbye(sock)
            _shutdown(sock)
        for thread in (self._reader, self._writer):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=2.0)

    def _say_goodbye(self, sock: socket.socket) -> None:
        """Send what is still queued and a WebSocket close frame, unless a send is stuck (a hung
        Lingma): never block."""
        if not self._send_lock.acquire(timeout=0.5):
            return
        try:
            with self._outbox_lock:
                queued, self._outbox, self._outbox_bytes = self._outbox, [], 0
            sock.settimeout(1.0)
            sock.sendall(b"".join(queued) + wsframes.control_frame(wsframes.OP_CLOSE, b"\x03\xe8"))
        except OSError:
            pass
        finally:
            self._send_lock.release()

    def idle_for(self) -> float:
        """Seconds since Lingma last sent anything on this connection."""
        return time.monotonic() - self.last_received

    # -- sending -----------------------------------------------------------------------
    def _send_raw(self, data: bytes) -> None:
        """Queue `data` for the writer; raise at once if the connection is gone or stuck."""
        if self.closed.is_set() or self._sock is None:
            raise self.close_error or LingmaConnectionError("not connected to Lingma")
        with self._outbox_lock:
            if self._outbox_bytes + len(data) > MAX_OUTBOX:
                raise LingmaConnectionError("Lingma is not reading what the gateway sends")
            self._outbox.append(data)
            self._outbox_bytes += len(data)
        self._wake_writer.set()

    def _write_loop(self, sock: socket.socket) -> None:
        """Write whatever the outbox holds, in one `sendall`, until the connection closes."""
        while True:
            self._wake_writer.wait()
            self._wake_writer.clear()
            if self.closed.is_set():
                return
            with self._outbox_lock:
                batch, self._outbox, self._outbox_bytes = self._outbox, [], 0
            if not batch:
                continue
            try:
                with self._send_lock:
                    send_all(sock, batch[0] if len(batch) == 1 else b"".join(batch))
            except OSError as exc:
                self._fail_all(LingmaConnectionError(f"lost the connection to Lingma: {exc}"))
                _shutdown(sock)
                return

    def send(self, message: dict[str, Any]) -> None:
        """Send one JSON-RPC message as one WebSocket text message."""
        self._send_raw(wsframes.text_frame(framing.encode(message)))

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        """Send a notification."""
        self.send({"jsonrpc": "2.0", "method": method, "params": params or {}})

    def request_nowait(self, method: str, params: dict[str, Any] | None = None,
                       on_reply: ReplyHook | None = None) -> int:
        """Send a request without waiting; `on_reply(message)` runs in the reader if a reply comes."""
        rid = next(self._ids)
        if on_reply is not None:
            self._reply_hooks[rid] = on_reply
        try:
            self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}})
        except BaseException:
            self._reply_hooks.pop(rid, None)
            raise
        return rid

    def request(self, method: str, params: dict[str, Any] | None = None, timeout: float = 15.0) -> Any:
        """Send a request and return its result; raise on error, timeout or disconnect."""
        rid = next(self._ids)
        pending = _Pending()
        self._pending[rid] = pending
        try:
            self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}})
            if not pending.event.wait(timeout):
                raise LingmaTimeoutError(f"Lingma did not answer {method} within {timeout:g} s", phase="rpc")
        finally:
            self._pending.pop(rid, None)
        if pending.error is not None:
            raise pending.error
        reply = pending.message or {}  # set by the reader before it set the event
        error = reply.get("error")
        if error is not None:
            if not isinstance(error, dict):
                error = {"message": str(error)}
            raise LingmaRpcError(method, error.get("code"), str(error.get("message", "")))
        return reply.get("result")

    # -- pushes other than chat ----------------------------------------------------------
    def expect_push(self, method: str, request_id: str) -> PushWaiter:
        """Register interest in the push `method` about `request_id` (before asking for it)."""
        waiter = PushWaiter((method, request_id))
        self._push_waiters[waiter.key] = waiter
        return waiter

    def forget_push(self, waiter: PushWaiter) -> None:
        """Stop waiting for a push."""
        self._push_waiters.pop(waiter.key, None)

    # -- streams -----------------------------------------------------------------------
    def register(self, stream: ChatStream) -> None:
        """Route pushes for `stream.request_id` to `stream`."""
        with self._state_lock:
            if self.closed.is_set():
                raise self.close_error or LingmaConnectionError("not connected to Lingma")
            self.streams[stream.request_id] = stream

    def unregister(self, request_id: str) -> None:
        """Stop routing pushes for `request_id`."""
        self.streams.pop(request_id, None)

    def forget_reply(self, rid: int | None) -> None:
        """Drop the reply handler of a request nobody waits for any more."""
        if rid is not None:
            self._reply_hooks.pop(rid, None)

    def ask_reply_hook(self, stream: ChatStream) -> ReplyHook:
        """Return a reply handler that fails `stream` if Lingma rejects its `chat/ask`."""
        def on_reply(message: dict[str, Any]) -> None:
            error = _ask_rejection(message)
            if error is not None:
                stream.push_error(error)
        return on_reply

    # -- the reader --------------------------------------------------------------------
    def _read_loop(self, sock: socket.socket) -> None:
        error: LingmaError
        try:
            while True:
                data = sock.recv(READ_BLOCK)
                if not data:
                    raise LingmaConnectionError("Lingma closed the connection")
                self.last_received = time.monotonic()
                outgoing = self._handle_bytes(data)
                if outgoing:
                    self._send_raw(b"".join(outgoing))
                time.sleep(0)  # let other greenlets run between blocks
        except framing.FrameTooLarge as exc:
            error = LingmaProtocolError(f"dropping the Lingma connection: {exc}")
        except wsframes.WsProtocolError as exc:
            error = LingmaProtocolError(f"dropping the Lingma connection: {exc}")
        except LingmaError as exc:
            error = exc
        except OSError as exc:
            error = LingmaConnectionError(f"lost the connection to Lingma: {exc}")
        except Exception as exc:  # a bug must not leave streams hanging
            log.exception("Lingma reader failed")
            error = LingmaConnectionError(f"Lingma reader failed: {exc}")
        self._fail_all(error)
        _shutdown(sock)

    def _handle_bytes(self, data: bytes) -> list[bytes]:
        outgoing: list[bytes] = []
        for opcode, payload in self._frames.feed(data):
            if opcode == wsframes.OP_BINARY:
                for message in self._decoder.feed(payload):
                    self._dispatch(message, outgoing)
            elif opcode == wsframes.OP_PING:
                outgoing.append(wsframes.control_frame(wsframes.OP_PONG, payload))
            elif opcode == wsframes.OP_CLOSE:
                raise LingmaConnectionError("Lingma closed the WebSocket")
        return outgoing

    def _dispatch(self, message: object, outgoing: list[bytes]) -> None:
        if not isinstance(message, dict):
            log.warning("ignoring a non-object Lingma message: %r", message)
            return
        method = message.get("method")
        if method is None:
            self._resolve(message)
            return
        if message.get("id") is not None:
            outgoing.append(wsframes.text_frame(framing.ack(message["id"])))
            self.acks_sent += 1
        params = message.get("params")
        self._on_push(method, params if isinstance(params, dict) else {}, outgoing)

    def _on_push(self, method: str, params: dict[str, Any], outgoing: list[bytes]) -> None:
        if method == methods.CHAT_ANSWER:
            stream = self._stream_for(params)
            if stream is not None:
                stream.push_answer(params)
        elif method == methods.CHAT_FINISH:
            stream = self._stream_for(params)
            if stream is not None:
                stream.push_finish(params)
        elif method == methods.CHAT_THINK:
            stream = self._stream_for(params)
            if stream is not None:
                stream.push_think(params)
        elif method == methods.TOOL_INVOKE:
            outgoing.append(self._frame(_tool_refusal(next(self._ids), params)))
        elif method in self.push_handlers:
            self.push_handlers[method](params)
        elif self._push_waiters:
            waiter = self._push_waiters.get((method, _push_key(params)))
            if waiter is not None:
                waiter.params = params
                waiter.event.set()

    def _stream_for(self, params: dict[str, Any]) -> ChatStream | None:
        request_id: Any = params.get("requestId")  # any JSON value: only our own string ids match
        return self.streams.get(request_id)

    def _frame(self, message: dict[str, Any]) -> bytes:
        return wsframes.text_frame(framing.encode(message))

    def _resolve(self, message: dict[str, Any]) -> None:
        rid: Any = message.get("id")  # any JSON value: only the int ids we sent match
        hook = self._reply_hooks.pop(rid, None)
        if hook is not None:
            hook(message)
            return
        pending = self._pending.get(rid)
        if pending is not None:
            pending.message = message
            pending.event.set()

    def _fail_all(self, error: LingmaError) -> None:
        if self.lost_as is not None and isinstance(error, LingmaConnectionError):
            error = self.lost_as
        with self._state_lock:
            if self.closed.is_set():
                return
            self.close_error = error
            self.closed.set()
            streams, self.streams = list(self.streams.values()), {}
        self._wake_writer.set()  # the writer sees `closed` and ends
        for pending in list(self._pending.values()):
            pending.error = error
            pending.event.set()
        self._reply_hooks.clear()
        for waiter in list(self._push_waiters.values()):
            waiter.event.set()  # a lost connection ends every wait at once (params stay None)
        for stream in streams:
            stream.push_error(error)
        if self._on_close is not None:
            self._on_close(self, error)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(2)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _ask_rejection(message: dict[str, Any]) -> LingmaError | None:
    """Return an error when a `chat/ask` reply says the ask failed, else None."""
    error = message.get("error")
    if error is not None:
        text = error.get("message") if isinstance(error, dict) else str(error)
        return LingmaUpstreamError(f"Lingma rejected the chat: {text}")
    result = message.get("result")
    if not isinstance(result, dict):
        return None
    ok = result.get("isSuccess", result.get("success", True))
    text = result.get("errorMessage") or result.get("errorMsg") or ""
    if ok is False or text:
        code = result.get("errorCode") or ""
        return LingmaUpstreamError(f"Lingma rejected the chat: {text or 'failure'}" + (f" ({code})" if code else ""))
    return None


def _tool_refusal(rid: int, params: dict[str, Any]) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {"jsonrpc": "2.0", "id": rid, "method": methods.TOOL_INVOKE_RESULT, "params": {
        "toolCallId": params.get("toolCallId", ""), "name": params.get("name", ""),
        "requestId": params.get("requestId", ""), "success": False,
        "errorMessage": TOOLS_UNAVAILABLE, "result": None, "startTime": now, "timeConsuming": 0}}
