"""`logs/frames.log`: one line per frame sent or received, with tokens redacted."""

from __future__ import annotations

import re
import threading
import time

_SECRET = re.compile(
    rb'("(?:token|refreshToken|accessToken|apiKey|tokenString|auth|verifier|Cosy-MachineToken)"\s*:\s*")'
    rb'[^"]+(")')
_MAX_LINE = 4000


def redact(body: bytes) -> bytes:
    """Replace the values of secret-looking JSON keys with `***`."""
    if b"oken" not in body and b"apiKey" not in body and b'"auth"' not in body \
            and b"verifier" not in body:
        return body
    return _SECRET.sub(rb"\1***\2", body)


class FrameLog:
    """Appends `<time> <conn> <dir> <json>` lines; `dir` is `>` sent, `<` received, `!` raw."""

    def __init__(self, path, enabled: bool = True):
        self.enabled = enabled
        self._lock = threading.Lock()
        self._file = open(path, "ab") if enabled else None

    def write(self, conn_id: int, direction: str, body: bytes) -> None:
        """Log one frame body (JSON bytes, or raw bytes for faults)."""
        if not self.enabled:
            return
        body = redact(body)[:_MAX_LINE].replace(b"\r", b"\\r").replace(b"\n", b"\\n")
        line = b"%.6f %d %s %s\n" % (time.time(), conn_id, direction.encode(), body)
        with self._lock:
            if self._file is not None:
                self._file.write(line)
                self._file.flush()

    def close(self) -> None:
        """Flush and close the file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
