"""LSP `Content-Length` framing: encode one message, decode a byte stream incrementally.

Pure: no I/O, no threads. The decoder takes bytes as they arrive — partial frames, several
frames in one WebSocket message, a frame (even a UTF-8 character) split across messages —
and returns whole JSON messages. Bodies are decoded only once a whole frame is buffered.
"""

from __future__ import annotations

import logging
from typing import Any

from ..jsontext import compact
from ..jsontext import parse

log = logging.getLogger(__name__)

DEFAULT_MAX_FRAME = 16 * 1024 * 1024
_MAX_HEADER = 8 * 1024


class FrameTooLarge(Exception):
    """A frame announced (or a header grew to) more bytes than the decoder's limit."""


def encode(message: object) -> bytes:
    """Return `message` as one `Content-Length` frame of UTF-8 JSON."""
    return _framed(compact(message).encode("utf-8"))


def _framed(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def ack(rid: object) -> bytes:
    """Return `encode({"jsonrpc": "2.0", "id": rid, "result": {}})`, the reply to a push.

    A chat's pushes are most of what the gateway writes to Lingma (one reply per chunk), so
    the usual integer id is formatted into the frame's bytes without building a message.
    """
    if type(rid) is int:
        body = b'{"jsonrpc":"2.0","id":%d,"result":{}}' % rid
    else:
        body = ('{"jsonrpc":"2.0","id":' + compact(rid) + ',"result":{}}').encode("utf-8")
    return _framed(body)


def _header_end(buf: bytearray, pos: int) -> tuple[int, int]:
    """Return (end of header, start of body) after `pos`, accepting CRLFCRLF or a bare LFLF.

    Only the first _MAX_HEADER bytes are searched: a header is short, and searching a large
    buffer of many frames from every frame would make a decode quadratic.
    """
    limit = pos + _MAX_HEADER + 4
    crlf = buf.find(b"\r\n\r\n", pos, limit)
    # a bare LFLF counts only before the CRLFCRLF: no need to scan the bodies after it
    lf = buf.find(b"\n\n", pos, limit if crlf < 0 else crlf)
    if lf >= 0:
        return lf, lf + 2
    if crlf >= 0:
        return crlf, crlf + 4
    return -1, -1


def _plain_length(header: bytes) -> int | None:
    """The length of LSP's own header, `Content-Length: N` with up to 18 digits, else None."""
    digits = header[16:]
    if header.startswith(b"Content-Length: ") and digits.isdigit() and len(digits) <= 18:
        return int(digits)
    return None


def _content_length(header: bytes) -> int | None:
    length = _plain_length(header)
    if length is not None:
        return length  # longer numbers and other headers take the checked way below
    for line in header.splitlines():
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return None
            return length if length >= 0 else None
    return None


class FrameDecoder:
    """Incremental decoder: `feed(bytes)` returns the messages completed by those bytes.

    A frame without `Content-Length` or with invalid JSON is skipped and logged. A frame
    larger than `max_frame` raises `FrameTooLarge`: the caller drops the connection.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME):
        self.max_frame = max_frame
        self._buf = bytearray()
        self._pos = 0                  # where unread bytes start within _buf
        self._need: int | None = None  # body length of the frame being read
        self.skipped = 0

    def feed(self, data: bytes | bytearray | memoryview) -> list[Any]:
        """Add bytes and return every whole message now available (possibly none)."""
        out: list[Any] = []
        if not self._buf and self._need is None and type(data) is bytes:
            data = self._plain_frames(data, out)  # the usual case, read straight from `data`
            if not data:
                return out
        self._buf += data
        try:
            while True:
                need = self._need if self._need is not None else self._read_header()
                if need is None:
                    break
                end = self._pos + need
                if len(self._buf) < end:
                    break
                body = bytes(self._buf[self._pos:end])
                self._pos, self._need = end, None
                message = self._parse(body)
                if message is not None:
                    out.append(message)
        finally:
            del self._buf[:self._pos]  # compact once per feed, not once per frame
            self._pos = 0
        return out

    def _plain_frames(self, data: bytes, out: list[Any]) -> bytes:
        """Decode the whole frames at the start of `data` whose header is exactly LSP's own
        `Content-Length: N` (CRLF); return the bytes from the first other one on, for the
        buffered way (a part frame, another header, a frame over the limit)."""
        pos, size = 0, len(data)
        while pos < size:
            end = data.find(b"\r\n\r\n", pos, pos + 16 + 18 + 4)  # the longest such header
            length = _plain_length(data[pos:end]) if end >= 0 else None
            if length is None or length > self.max_frame:
                break
            start = end + 4
            stop = start + length
            if stop > size:
                break
            message = self._parse(data[start:stop])
            if message is not None:
                out.append(message)
            pos = stop
        return data[pos:] if pos else data

    def _read_header(self) -> int | None:
        """Read the next frame's header; return (and remember) its body length, or None for more bytes."""
        while True:
            end, start = _header_end(self._buf, self._pos)
            if end < 0:
                if len(self._buf) - self._pos > _MAX_HEADER:
                    raise FrameTooLarge(f"frame header longer than {_MAX_HEADER} bytes")
                return None
            header = bytes(self._buf[self._pos:end])
            self._pos = start
            length = _content_length(header)
            if length is not None:
                break
            self.skipped += 1
            log.warning("skipping Lingma frame without a valid Content-Length: %r", header[:200])
        if length > self.max_frame:
            raise FrameTooLarge(f"Lingma frame of {length} bytes exceeds the {self.max_frame}-byte limit")
        self._need = length
        return length

    def _parse(self, body: bytes) -> Any:
        try:
            return parse(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            self.skipped += 1
            log.warning("skipping Lingma frame with invalid JSON (%s): %r", exc, body[:200])
            return None

    @property
    def buffered(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buf) - self._pos
