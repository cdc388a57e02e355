"""Per-connection protocol state: frame decoding, JSON-RPC dispatch, pushes out.

One `Session` per WebSocket. Its reader (the websockets handler thread) decodes frames,
answers requests at once and records acks; its `Scheduler` thread sends the pushes.
"""

from __future__ import annotations

import itertools
import json
import socket
import time

from websockets.exceptions import ConnectionClosed

from ..lingma import methods as wire
from ..lingma.framing import FrameDecoder
from ..lingma.framing import FrameTooLarge
from ..lingma.framing import encode
from . import acp
from . import handlers
from .protocol import ERR_INVALID_REQUEST
from .protocol import ERR_NOT_FOUND
from .protocol import ERR_NOT_INITIALIZED
from .protocol import NO_REPLY
from .protocol import RpcError
from .scheduler import Scheduler

_conn_ids = itertools.count(1)
FEED_SLICE = 4096


class Session:
    """The protocol state of one WebSocket connection (see the module docstring)."""

    def __init__(self, sim, conn):
        self.sim = sim
        self.conn = conn
        self.id = next(_conn_ids)
        self.path = getattr(getattr(conn, "request", None), "path", "/")
        self.initialized = False
        self.decoder = FrameDecoder()
        cfg = sim.config
        self.scheduler = Scheduler(self, strict=cfg.strict, late_after=cfg.ack_late,
                                   tool_timeout=cfg.tool_timeout)

    def describe(self) -> dict:
        """A short description for `/sim/state`."""
        return {"id": self.id, "path": self.path, "initialized": self.initialized,
                "active_asks": self.scheduler.active()}

    # reading -----------------------------------------------------------------
    def serve(self) -> None:
        """Read until the connection closes; then drop every ask of this connection."""
        self.sim.state.add_connection(self)
        self.scheduler.start()
        self.sim.log.info("client %d connected on %s", self.id, self.path)
        try:
            for data in self.conn:
                if not self.on_data(data if isinstance(data, bytes) else data.encode("utf-8")):
                    break
        except ConnectionClosed:
            pass
        finally:
            self.scheduler.close()
            self.sim.state.remove_connection(self)
            self.sim.log.info("client %d closed, ignore its requests", self.id)

    def on_data(self, data: bytes) -> bool:
        """Feed one WebSocket message; False to drop the connection."""
        if self.decoder.buffered == 0 and data.lstrip()[:1] in (b"{", b"["):
            self.sim.log.warning("Unknown message header: %r", data[:80])
            self.sim.frames.write(self.id, "!", data)
            return True
        skipped = self.decoder.skipped
        try:
            messages = self._decode(data)
        except FrameTooLarge as exc:
            self.sim.log.error("closing client %d: %s", self.id, exc)
            return False
        if self.decoder.skipped != skipped:
            self.sim.log.warning("Unknown message header (client %d)", self.id)
        for message in messages:
            self.on_message(message)
        return True

    def _decode(self, data: bytes) -> list:
        """Feed in slices: FrameDecoder's header search rescans its whole buffer per frame,
        which is quadratic when a client packs hundreds of frames (acks) in one message."""
        if len(data) <= FEED_SLICE:
            return self.decoder.feed(data)
        view, messages = memoryview(data), []
        for start in range(0, len(data), FEED_SLICE):
            messages += self.decoder.feed(view[start:start + FEED_SLICE])
        return messages

    def on_message(self, msg) -> None:
        """Dispatch one decoded JSON-RPC message."""
        if self.sim.frames.enabled:
            self.sim.frames.write(self.id, "<", json.dumps(msg, ensure_ascii=False).encode())
        if isinstance(msg, list):
            self._error(None, ERR_INVALID_REQUEST, "batch requests are not supported")
            return
        if not isinstance(msg, dict):
            return
        method = msg.get("method")
        if method is None:
            if "id" in msg and ("result" in msg or "error" in msg):
                self.scheduler.on_ack(msg["id"])
            return
        self._dispatch(method, msg)

    def _dispatch(self, method: str, msg: dict) -> None:
        is_request = "id" in msg
        msg_id = msg.get("id")
        params = msg.get("params")
        params = params if isinstance(params, dict) else {}
        if not self.initialized and method != wire.INITIALIZE:
            if is_request:
                self._error(msg_id, ERR_NOT_INITIALIZED, "server not initialized")
            return
        table = acp.HANDLERS if self.sim.config.protocol == "acp" else handlers.HANDLERS
        handler = None if method in self.sim.unknown_methods else table.get(method)
        if handler is None:
            if is_request:
                self._error(msg_id, ERR_NOT_FOUND, "method not found: %s" % method)
            else:
                self.sim.log.info("unknown method: %s", method)
            return
        try:
            result = handler(self, params, msg_id if is_request else None)
        except RpcError as exc:
            if is_request:
                self._error(msg_id, exc.code, exc.message)
            return
        if is_request and result is not NO_REPLY:
            self.reply(msg_id, result)

    # writing -----------------------------------------------------------------
    def reply(self, msg_id, result) -> None:
        """Send a JSON-RPC result."""
        self.send_message({"jsonrpc": "2.0", "id": msg_id, "result": result})

    def _error(self, msg_id, code: int, message: str) -> None:
        self.send_message({"jsonrpc": "2.0", "id": msg_id,
                           "error": {"code": code, "message": message}})

    def send_message(self, message: dict) -> bool:
        """Send one message as one text WebSocket message; False when the socket is gone."""
        data = encode(message)
        self.sim.frames.write(self.id, ">", data[data.find(b"\r\n\r\n") + 4:])
        try:
            self.conn.send(data, text=True)
            return True
        except (ConnectionClosed, OSError):
            return False

    def send_batch(self, batch: list) -> bool:
        """Write a scheduler batch with one `sendall`; False when the connection is gone.

        Items: ("push", message, scenario) and fault actions. Writes are (data, is_text,
        stamp_body): a stamped push is framed only right before the write (see `_stamp`).
        """
        writes: list = []
        group: list = []
        for item in batch:
            if item[0] == "push":
                self._queue_push(item, writes, group)
                continue
            _flush_group(group, writes)
            if item[0] in ("crash", "drop"):
                self._write(writes)
                writes = []
            if not self._fault(item, writes):
                return False
        _flush_group(group, writes)
        return self._write(writes)

    def _queue_push(self, item, writes: list, group: list) -> None:
        message, scenario = item[1], item[2]
        late_stamp = scenario.stamp and message.get("method") == wire.CHAT_ANSWER
        if late_stamp:
            late_stamp = not (scenario.split or scenario.coalesce)
            _put_stamp(message["params"], scenario.stamp_text,
                       -1 if late_stamp else time.monotonic_ns())
        data = encode(message)
        body = data[data.find(b"\r\n\r\n") + 4:]
        self.sim.frames.write(self.id, ">", body)
        if scenario.coalesce:
            group.append(data)
            if len(group) >= 3:
                _flush_group(group, writes)
            return
        _flush_group(group, writes)
        if scenario.split:
            writes.extend((piece, False, None) for piece in split_points(data))
        else:
            writes.append((data, True, body if late_stamp else None))

    def _write(self, writes: list) -> bool:
        if not writes:
            return True
        try:
            self.conn.send_many(writes, before_write=_stamp)
            return True
        except (ConnectionClosed, OSError):
            return False

    def _fault(self, item, writes: list) -> bool:
        kind = item[0]
        if kind == "garbage":
            for raw in GARBAGE:
                self.sim.frames.write(self.id, "!", raw)
                writes.append((raw, True, None))
        elif kind == "crash":
            self.sim.crash("crash fault mid-stream")
        elif kind == "drop":
            self.sim.log.warning("drop fault: closing client %d", self.id)
            _shutdown(self.conn)
            return False
        elif kind == "tool_timeout":
            self.sim.state.record_tool({"requestId": item[1], "toolCallId": item[2],
                                        "received": False, "waitedMs": int(item[3] * 1000)})
        return True


def _put_stamp(params: dict, in_text: bool, value: int) -> None:
    """Stamp a chat/answer: `simSentNs`, and `|<ns>|` before non-empty text if asked.

    -1 means "fill in at write time": the placeholders are patched by `_stamp`.
    """
    params["simSentNs"] = value
    if in_text and params["text"]:
        stamp = _TEXT_PLACEHOLDER.decode() if value < 0 else str(value)
        params["text"] = "|%s|%s" % (stamp, params["text"])


GARBAGE = (b"X-Sim-Garbage: 1\r\n\r\n", b"Content-Length: 9\r\n\r\n{not json")
_PLACEHOLDER = b'"simSentNs":-1'
_TEXT_PLACEHOLDER = b"@@SIM-STAMP@@"


def _stamp(writes: list) -> list:
    """Called under the connection's send lock just before the write: fill in simSentNs."""
    now = b"%d" % time.monotonic_ns()
    stamp = b'"simSentNs":' + now
    out = []
    for data, is_text, body in writes:
        if body is not None:
            body = body.replace(_PLACEHOLDER, stamp, 1).replace(_TEXT_PLACEHOLDER, now, 1)
            data = b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        out.append((data, is_text))
    return out


def _flush_group(group: list, writes: list) -> None:
    """Coalesce fault: several frames in one WebSocket message."""
    if group:
        writes.append((b"".join(group), True, None))
        group.clear()


def split_points(data: bytes) -> list[bytes]:
    """Cut a frame into pieces: inside the header, inside a UTF-8 character if any, the rest."""
    cuts = {min(7, len(data) - 1)}
    body_start = data.find(b"\r\n\r\n") + 4
    lead = next((i for i in range(body_start, len(data)) if data[i] >= 0xC0), None)
    cuts.add(lead + 1 if lead is not None else (body_start + len(data)) // 2)
    pieces, start = [], 0
    for cut in sorted(c for c in cuts if 0 < c < len(data)):
        pieces.append(data[start:cut])
        start = cut
    pieces.append(data[start:])
    return pieces


def _shutdown(conn) -> None:
    try:
        conn.socket.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
