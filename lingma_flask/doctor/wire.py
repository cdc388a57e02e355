"""A plain, synchronous JSON-RPC client over one WebSocket to Lingma, recording every frame.

The doctor does not use the gateway's `RpcConnection` (its reader thread, outbox and routing
are what a bug report may be about): it writes one message, reads until the answer it waits
for, acknowledges Lingma's requests at once (`{}`, as the gateway does) and records every
frame in both directions in the transcript. The same framing code (wsframes, framing) and the
same dialling (TCP, or the Unix socket of a desktop) as the gateway are used.
"""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any
from typing import NoReturn

from ..lingma import framing
from ..lingma import wsframes
from .transcript import RECEIVED
from .transcript import SENT
from .transcript import Transcript

READ_SLICE = 0.25      # seconds per blocking read, so deadlines are kept
READ_BYTES = 256 * 1024

Message = dict[str, Any]


class WireError(Exception):
    """The connection failed, or Lingma did not answer in time."""


class RpcError(WireError):
    """Lingma answered a request with a JSON-RPC error."""

    def __init__(self, method: str, code: object, message: str) -> None:
        super().__init__(f"{method} answered error {code}: {message}")
        self.code = code
        self.message = message


class WireClient:
    """One WebSocket to Lingma (`address`: a port, or a Unix socket's path), recorded as `channel`."""

    def __init__(self, address: int | str, *, channel: str, transcript: Transcript, timeout: float,
                 headers: list[str] | None = None, max_frame: int = framing.DEFAULT_MAX_FRAME) -> None:
        self.channel = channel
        self.transcript = transcript
        self._frames = wsframes.FrameReader()
        self._decoder = framing.FrameDecoder(max_frame)
        self._ids = itertools.count(1)
        self._backlog: collections.deque[Message] = collections.deque()
        self.closed = False
        try:
            self._sock = wsframes.open_websocket(address, timeout=timeout, headers=headers)
        except Exception as exc:  # every way a dial fails is one line in the report
            transcript.event(channel, f"could not connect: {type(exc).__name__}: {exc}")
            raise WireError(f"cannot connect: {exc}") from exc
        self._sock.settimeout(READ_SLICE)
        transcript.event(channel, "connected")

    # -- writing -----------------------------------------------------------------------
    def send(self, message: Message) -> None:
        """Write one message (recorded first)."""
        self.transcript.frame(self.channel, SENT, message)
        try:
            self._sock.sendall(wsframes.text_frame(framing.encode(message)))
        except OSError as exc:
            self._lost(f"write failed: {exc}")

    def notify(self, method: str, params: dict[str, Any]) -> None:
        """Send a notification."""
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request_nowait(self, method: str, params: dict[str, Any]) -> int:
        """Send a request whose answer is not awaited; return its id."""
        msg_id = next(self._ids)
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return msg_id

    def request(self, method: str, params: dict[str, Any], timeout: float) -> Any:
        """Send a request and return its result; raise RpcError or WireError (no answer in time)."""
        msg_id = self.request_nowait(method, params)
        answer = self.wait_for(lambda m: is_response(m, msg_id), timeout, f"{method}'s answer")
        error = answer.get("error")
        if error is not None:
            detail = error if isinstance(error, dict) else {}
            raise RpcError(method, detail.get("code"), str(detail.get("message") or error))
        return answer.get("result")

    # -- reading -----------------------------------------------------------------------
    def wait_for(self, wanted: Callable[[Message], bool], timeout: float, what: str) -> Message:
        """Return the first message (kept back or new) `wanted` accepts; others stay kept back."""
        deadline = time.monotonic() + timeout
        while True:
            for index, message in enumerate(self._backlog):
                if wanted(message):
                    del self._backlog[index]
                    return message
            self._backlog.extend(self._read(deadline, what))

    def messages(self, deadline: float, what: str) -> Iterator[Message]:
        """Yield every message, kept back ones first, until the caller stops (the rest stay
        kept back) or `deadline` passes (WireError)."""
        while True:
            while self._backlog:
                yield self._backlog.popleft()
            self._backlog.extend(self._read(deadline, what))

    def _read(self, deadline: float, what: str) -> list[Message]:
        """Read once (at most READ_SLICE); ack Lingma's requests; raise at the deadline."""
        if self.closed:
            raise WireError(f"the connection closed before {what}")
        if time.monotonic() >= deadline:
            raise WireError(f"no {what} in time")
        try:
            data = self._sock.recv(READ_BYTES)
        except TimeoutError:
            return []
        except OSError as exc:
            self._lost(f"read failed: {exc}")
        if not data:
            self._lost("Lingma closed the connection")
        out: list[Message] = []
        try:
            for opcode, payload in self._frames.feed(data):
                if opcode == wsframes.OP_PING:
                    self._sock.sendall(wsframes.control_frame(wsframes.OP_PONG, payload))
                elif opcode == wsframes.OP_CLOSE:
                    self._lost("Lingma sent a WebSocket close")
                elif opcode == wsframes.OP_BINARY:
                    out += self._decode(payload)
        except (wsframes.WsProtocolError, framing.FrameTooLarge) as exc:
            self._lost(f"protocol error: {exc}")
        return out

    def _decode(self, payload: bytes) -> list[Message]:
        skipped = self._decoder.skipped
        messages = self._decoder.feed(payload)
        if self._decoder.skipped > skipped:
            self.transcript.event(self.channel, f"skipped {self._decoder.skipped - skipped} frame(s)"
                                  " without a Content-Length or with invalid JSON")
        out = []
        for message in messages:
            self.transcript.frame(self.channel, RECEIVED, message)
            if not isinstance(message, dict):
                continue
            if "method" in message and "id" in message:   # Lingma's request: acknowledged at once
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": {}})
            out.append(message)
        return out

    def _lost(self, why: str) -> NoReturn:
        self.transcript.event(self.channel, why)
        self.close()
        raise WireError(why)

    def close(self) -> None:
        """Say goodbye (a WebSocket close) and close the socket; idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            self._sock.sendall(wsframes.control_frame(wsframes.OP_CLOSE, b"\x03\xe8"))
        except OSError:
            pass
        try:
            self._sock.close()
        except OSError:
            pass
        self.transcript.event(self.channel, "closed")


def is_response(message: Message, msg_id: int) -> bool:
    """Whether `message` answers request `msg_id`."""
    return message.get("id") == msg_id and "method" not in message and ("result" in message or "error" in message)


def push_params(message: Message, method: str) -> dict[str, Any] | None:
    """The params of a push of `method` (a request or a notification), else None."""
    if message.get("method") != method:
        return None
    params = message.get("params")
    return params if isinstance(params, dict) else {}
