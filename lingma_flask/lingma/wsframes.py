"""The WebSocket layer under the RPC connection.

websocket-client performs only the opening handshake, over a TCP socket we open ourselves
(so no `http_proxy` setting can reroute loopback). After that we read the socket in large
blocks and parse WebSocket frames here: pulling one frame at a time through websocket-client
held a gevent worker's loop long enough to double every stream's latency at 300 streams.
Data-frame payloads are handed on as they arrive; LSP framing above is self-delimiting, so
WebSocket message boundaries do not matter to it.
"""

from __future__ import annotations

import socket
import struct

import websocket

from ..ids import random16

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
DATA_OPCODES = (OP_CONT, OP_TEXT, OP_BINARY)


class WsProtocolError(Exception):
    """The peer broke the WebSocket framing rules."""


def open_websocket(port: int | str, *, timeout: float, headers: list[str] | None = None) -> socket.socket:
    """Connect to ws://127.0.0.1:port/ (or over the Unix socket at the path `port`), do the
    handshake, and return the raw socket."""
    sock, url = _dial(port, timeout)
    try:
        ws = websocket.create_connection(
            url,
            socket=sock,
            timeout=timeout,
            skip_utf8_validation=True,
            header=headers or [],
        )
    except BaseException:
        sock.close()
        raise
    raw = ws.sock
    if raw is None:  # websocket-client drops its socket only when the handshake failed
        raise ConnectionError(f"the WebSocket handshake on port {port} left no socket")
    raw.settimeout(None)
    if isinstance(port, int):
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return raw


def _dial(address: int | str, timeout: float) -> tuple[socket.socket, str]:
    """Open the stream the handshake runs over: TCP to 127.0.0.1:port, or AF_UNIX to a path
    (a desktop's `qodercn.sock`, attach.py); return it and the URL to ask for."""
    if isinstance(address, int):
        return socket.create_connection(("127.0.0.1", address), timeout=timeout), f"ws://127.0.0.1:{address}/"
    family = getattr(socket, "AF_UNIX", None)
    if family is None:
        raise OSError(f"this Python has no Unix sockets to reach {address}")
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock, "ws://localhost/"


def client_frame(opcode: int, payload: bytes) -> bytes:
    """Return one final, masked client frame (RFC 6455 5.2; XOR masking is its own inverse)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    key = random16()[:4]
    return head + key + _unmask(payload, key, 0)


def text_frame(payload: bytes) -> bytes:
    """Return one masked client text frame carrying `payload`."""
    return client_frame(OP_TEXT, payload)


def control_frame(opcode: int, payload: bytes = b"") -> bytes:
    """Return one masked client control frame (pong, close)."""
    return client_frame(opcode, payload)


def _unmask(data: bytes, key: bytes, offset: int) -> bytes:
    if not data:
        return b""
    key = key[offset % 4:] + key[: offset % 4]
    n = len(data)
    mask = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ mask).to_bytes(n, "big")


def _plain_frames(data: bytes, out: list[tuple[int, bytes]]) -> bytes:
    """Take the whole unmasked data frames at the start of `data` (what a server sends a
    chat); return the bytes from the first other frame on, for the buffered way."""
    pos, size = 0, len(data)
    while (header := _frame_header(data, pos)) is not None:
        opcode, length, mask, head = header
        stop = pos + head + length
        if opcode not in DATA_OPCODES or mask is not None or stop > size:
            break
        if length:
            out.append((OP_BINARY, data[pos + head:stop]))
        pos = stop
    return data[pos:] if pos else data


def _frame_header(buf: bytes | bytearray, p: int) -> tuple[int, int, bytes | None, int] | None:
    """Return the header at `p`: (opcode, payload length, mask, header size), or None until
    it is whole; raise WsProtocolError for a header no peer may send."""
    avail = len(buf) - p
    if avail < 2:
        return None
    opcode = buf[p] & 0x0F
    masked = buf[p + 1] & 0x80
    length = buf[p + 1] & 0x7F
    size = 2
    if length == 126:
        if avail < 4:
            return None
        length = struct.unpack_from("!H", buf, p + 2)[0]
        size = 4
    elif length == 127:
        if avail < 10:
            return None
        length = struct.unpack_from("!Q", buf, p + 2)[0]
        size = 10
    if opcode >= 0x8 and length > 125:
        raise WsProtocolError(f"control frame of {length} bytes")
    if opcode not in DATA_OPCODES + (OP_CLOSE, OP_PING, OP_PONG):
        raise WsProtocolError(f"unknown WebSocket opcode {opcode}")
    mask = None
    if masked:
        if avail < size + 4:
            return None
        mask = bytes(buf[p + size:p + size + 4])
        size += 4
    return opcode, length, mask, size


class FrameReader:
    """Incremental WebSocket frame parser for bytes read from the socket.

    `feed(data)` returns a list of `(opcode, payload)`: data frames come out in pieces as
    their bytes arrive (opcode OP_BINARY for all of them), control frames whole.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0          # where unread bytes start within _buf
        self._remaining = 0    # payload bytes still to come for the current data frame
        self._mask: bytes | None = None
        self._offset = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Add bytes and return the frame pieces they complete."""
        out: list[tuple[int, bytes]] = []
        if not self._buf and not self._remaining and type(data) is bytes:
            data = _plain_frames(data, out)  # the usual case, read straight from `data`
            if not data:
                return out
        self._buf += data
        try:
            while self._pos < len(self._buf):
                if self._remaining:
                    self._take_payload(out)
                elif not self._take_frame(out):
                    break
        finally:
            del self._buf[:self._pos]  # compact once per feed, not once per frame
            self._pos = 0
        return out

    def _take_frame(self, out: list[tuple[int, bytes]]) -> bool:
        header = _frame_header(self._buf, self._pos)
        if header is None:
            return False
        opcode, length, mask, size = header
        start = self._pos + size
        if opcode in DATA_OPCODES:
            self._pos = start
            self._remaining, self._mask, self._offset = length, mask, 0
            return True
        if len(self._buf) < start + length:
            return False
        payload = bytes(self._buf[start:start + length])
        self._pos = start + length
        out.append((opcode, _unmask(payload, mask, 0) if mask else payload))
        return True

    def _take_payload(self, out: list[tuple[int, bytes]]) -> None:
        n = min(self._remaining, len(self._buf) - self._pos)
        piece = bytes(self._buf[self._pos:self._pos + n])
        self._pos += n
        if self._mask:
            piece = _unmask(piece, self._mask, self._offset)
        self._offset += n
        self._remaining -= n
        out.append((OP_BINARY, piece))
