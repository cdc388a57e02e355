"""The client's TCP connection, as the WSGI server exposes it: the one place that knows servers.

gunicorn puts the client socket into the environ as `gunicorn.socket`, Werkzeug's dev server
as `werkzeug.socket`; without one (the test client) these helpers do nothing. They give:

* `read_body`: the request body within `LINGMA_MAX_BODY_BYTES` (chunked bodies too) and
  within `LINGMA_BODY_TIMEOUT` seconds in all; a body that misses the deadline gets 408.
* `client_gone`: whether a client waiting for a non-streamed answer has hung up.
* `init_app`: every response body (JSON or SSE) is written in slices of at most
  `WRITE_SLICE` bytes under a `WriteGuard`: a client whose pending write makes no progress
  for `LINGMA_WRITE_TIMEOUT` seconds is dropped, as is one still blocked at its stream's total
  deadline (`set_write_deadline`) or soon after the worker starts shutting down.

Progress is a slice handed to the server, or (on Linux) the kernel's send queue moving: a
write blocked on a full send buffer only wakes once about a third of it (often over a MB) has
drained, so a slow-but-steady reader would look stalled if only finished writes counted.
A dropped client's connection is reset, never resumed: no bytes follow a cut (an SSE event is
whole or the connection ends inside it), and the kernel frees the unsent data at once.

Deadlines are kept by one watchdog thread that shuts the socket down: a blocked read then
sees the end of the stream and a blocked write fails, under gevent and plain threads alike.
"""

from __future__ import annotations

import errno
import logging
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Generator
from collections.abc import Iterable
from collections.abc import Iterator

from .errors import ApiError

log = logging.getLogger(__name__)

READ_STEP = 64 * 1024
WRITE_SLICE = 16 * 1024   # the most bytes handed to the server in one write
WRITE_DEADLINE = "lingma.write_deadline"  # environ key: a stream's total deadline (monotonic)
TICK = 0.25          # how often the watchdog looks at its deadlines
DRAIN_GRACE = 2.0    # how long a blocked write may last once the worker is shutting down


def client_socket(environ) -> socket.socket | None:
    """Return the client's socket, if the server exposes it."""
    return environ.get("gunicorn.socket") or environ.get("werkzeug.socket")


if sys.platform.startswith("linux"):
    import fcntl
    import termios

    _OUTQ: int | None = termios.TIOCOUTQ  # SIOCOUTQ on a TCP socket: bytes not yet acknowledged
else:  # elsewhere only finished slices count as progress
    _OUTQ = None


def unsent_bytes(sock) -> int | None:
    """Bytes the kernel still holds for the peer (not sent or not acknowledged); None if unknown."""
    if _OUTQ is None:
        return None
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), _OUTQ, b"\0\0\0\0"))[0]
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def shutdown(sock, how: int = socket.SHUT_RDWR) -> None:
    """Shut a socket down (either way), ignoring a socket that is already gone."""
    try:
        sock.shutdown(how)
    except (OSError, ValueError):
        pass


class Watchdog:
    """One thread that calls `check(now)` on every armed watch until it returns True.

    With nothing armed it sleeps until `arm` wakes it, so an idle worker does not tick.
    """

    def __init__(self):
        self._watches: set = set()
        self._lock = threading.Lock()
        self._armed = threading.Event()   # set while (or just after) a watch is armed
        self._thread: threading.Thread | None = None
        self.draining_since: float | None = None

    def arm(self, watch) -> None:
        """Start checking `watch`."""
        with self._lock:
            self._watches.add(watch)
            self._armed.set()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lingma-client-watchdog",
                                                daemon=True)
                self._thread.start()

    @property
    def ticking(self) -> bool:
        """Whether the thread looks at its watches every TICK (False: it waits for `arm`)."""
        return self._armed.is_set()

    def disarm(self, watch) -> None:
        """Stop checking `watch`."""
        with self._lock:
            self._watches.discard(watch)

    def drain(self) -> None:
        """The worker is shutting down: blocked writes get only a short grace from now on."""
        self.draining_since = time.monotonic()

    def _run(self) -> None:
        while True:
            self._armed.wait()
            time.sleep(TICK)
            now = time.monotonic()
            with self._lock:
                watches = list(self._watches)
                if not watches:   # cleared under the lock `arm` sets it under: no arm is missed
                    self._armed.clear()
            for watch in watches:
                try:
                    if watch.check(now):
                        self.disarm(watch)
                except Exception:  # a watch must never kill the watchdog
                    log.exception("client watchdog check failed")
                    self.disarm(watch)


WATCHDOG = Watchdog()


class _ReadDeadline:
    """Shut the socket's read side when the body is not in by the deadline."""

    def __init__(self, sock, deadline: float):
        self.sock, self.deadline, self.fired = sock, deadline, False

    def check(self, now: float) -> bool:
        if now < self.deadline:
            return False
        self.fired = True
        shutdown(self.sock, socket.SHUT_RD)
        return True


def _content_length(environ) -> int | None:
    value = environ.get("CONTENT_LENGTH") or ""
    if not value:
        return None
    if not value.isdigit():
        raise ApiError(400, "The Content-Length header is not a number.", code="invalid_request")
    return int(value)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"The request body is too large (limit: LINGMA_MAX_BODY_BYTES = {limit}"
                    " bytes).", code="request_too_large")


def read_body(environ, limit: int, timeout: float) -> bytes:
    """Read the whole body within `limit` bytes and `timeout` seconds, or raise 400/408/413."""
    length = _content_length(environ)
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if length is None and not chunked:
        return b""
    sock = client_socket(environ)
    if length is not None and length > limit:
        _stop_reading(sock)
        raise _too_large(limit)
    watch = _ReadDeadline(sock, time.monotonic() + timeout) if sock is not None else None
    if watch is not None:
        WATCHDOG.arm(watch)
    try:
        data = _read_all(environ["wsgi.input"], length, limit, sock)
    finally:
        if watch is not None:
            WATCHDOG.disarm(watch)
    if watch is not None and watch.fired:
        raise ApiError(408, f"The request body did not arrive within {timeout:g} s"
                       " (LINGMA_BODY_TIMEOUT).", code="request_timeout")
    if length is not None and len(data) < length:
        raise ApiError(400, "The request body ended before its Content-Length.",
                       code="invalid_request")
    return data


def _read_all(stream, length: int | None, limit: int, sock) -> bytes:
    parts, size = [], 0
    want = length if length is not None else limit + 1
    while size < want:
        try:
            data = stream.read(min(READ_STEP, want - size))
        except (OSError, ValueError):
            break  # the connection closed (or was shut at the deadline)
        except Exception as exc:  # the server's chunked-body parser refused the body
            _stop_reading(sock)
            raise ApiError(400, f"The chunked request body is malformed: {exc}.",
                           code="invalid_request") from None
        if not data:
            break
        parts.append(data)
        size += len(data)
    if size > limit:
        _stop_reading(sock)
        raise _too_large(limit)
    return b"".join(parts)


def _stop_reading(sock) -> None:
    """Stop reading an unwanted body; the server then closes the connection after answering."""
    if sock is not None:
        shutdown(sock, socket.SHUT_RD)


def client_gone(sock) -> bool:
    """Tell whether the client closed its connection (checked without blocking)."""
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except ValueError:      # TLS sockets take no flags: assume the client is there
        return False
    except OSError:
        return True


def abort(sock) -> None:
    """Drop a connection: its pending write fails now, and closing it resets it.

    With a zero linger the close sends RST and discards the unsent data, instead of the
    kernel keeping it (and probing a closed window) for minutes after the server let go.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except (OSError, ValueError, AttributeError):
        pass
    shutdown(sock)


def slices(chunk: bytes, size: int = WRITE_SLICE) -> Iterator[bytes]:
    """Cut one body chunk into writes of at most `size` bytes (never an empty one)."""
    if len(chunk) <= size:
        if chunk:
            yield chunk
        return
    for start in range(0, len(chunk), size):
        yield chunk[start:start + size]


class WriteGuard:
    """Decide when a client whose pending write makes no progress must be dropped.

    The writer calls `writing(now)` before each slice and `written()` after it; the watchdog
    calls `check(now)`. Between writes (a stream waiting for Lingma) nothing is timed.
    """

    def __init__(self, sock, write_timeout: float, deadline: float | None = None,
                 unsent=unsent_bytes):
        self.sock, self.write_timeout, self.deadline = sock, write_timeout, deadline
        self._unsent = unsent
        self.writing_since: float | None = None  # when the pending slice was handed over
        self.progress_at = 0.0                    # the pending write's last sign of progress
        self.queued: int | None = None            # the kernel's send queue at the last look
        self.dropped = False

    def writing(self, now: float) -> None:
        """A slice is being handed to the server (so the previous one went out)."""
        self.writing_since = self.progress_at = now

    def written(self) -> None:
        """The slice went out; nothing is pending."""
        self.writing_since = None

    def check(self, now: float) -> bool:
        """Drop the client if its pending write is late; True once dropped."""
        since = self.writing_since
        if since is None:
            return False
        queued = self._unsent(self.sock)
        if queued is not None and queued != self.queued:
            if self.queued is not None:  # the first look only sets the baseline
                self.progress_at = now
            self.queued = queued
        if not self._late(now, since):
            return False
        self.dropped = True
        log.info("dropping a client that stopped reading (no progress for %.1f s)",
                 now - self.progress_at)
        abort(self.sock)
        return True

    def _late(self, now: float, since: float) -> bool:
        draining = WATCHDOG.draining_since
        return (now - self.progress_at > self.write_timeout
                or (self.deadline is not None and now > self.deadline)
                or (draining is not None and now - max(since, draining) > DRAIN_GRACE))


def guarded_slices(chunks: Iterable[bytes], guard: WriteGuard,
                   watchdog=WATCHDOG) -> Generator[bytes, None, None]:
    """Yield `chunks` in slices, each timed by `guard`; after a drop, never another byte."""
    watchdog.arm(guard)
    try:
        for chunk in chunks:
            for piece in slices(chunk):
                if guard.dropped:
                    raise BrokenPipeError(errno.EPIPE, "the client stopped reading")
                guard.writing(time.monotonic())
                yield piece
                guard.written()
    finally:
        watchdog.disarm(guard)


class GuardedBody:
    """A WSGI response body written under a `WriteGuard`; `close()` closes the app's body."""

    def __init__(self, body: Iterable[bytes], guard: WriteGuard, watchdog=WATCHDOG):
        self._body = body
        self._slices = guarded_slices(body, guard, watchdog)

    def __iter__(self) -> Iterator[bytes]:
        return self._slices

    def close(self) -> None:
        """Stop writing (disarming the guard), then close the app's body as WSGI requires."""
        try:
            self._slices.close()
        finally:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()


def set_write_deadline(environ, deadline: float) -> None:
    """Drop this response's client if a write is still blocked at `deadline` (monotonic)."""
    environ[WRITE_DEADLINE] = deadline


def init_app(app) -> None:
    """Write every response body of `app` under the write guard (LINGMA_WRITE_TIMEOUT)."""
    write_timeout = app.extensions["lingma_api"].write_timeout
    inner = app.wsgi_app

    def guarded_app(environ, start_response):
        body = inner(environ, start_response)
        sock = client_socket(environ)
        if sock is None:  # the test client: nothing to guard
            return body
        return GuardedBody(body, WriteGuard(sock, write_timeout, environ.get(WRITE_DEADLINE)))

    app.wsgi_app = guarded_app
