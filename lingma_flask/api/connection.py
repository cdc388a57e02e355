"""The client's TCP connection, as the WSGI server exposes it: the one place that knows servers.

gunicorn puts the client socket into the environ as `gunicorn.socket`, Werkzeug's dev server
as `werkzeug.socket`; without one (the test client) these helpers do nothing. They give:

* `read_body`: the request body within `LINGMA_MAX_BODY_BYTES` (chunked bodies too) and
  within `LINGMA_BODY_TIMEOUT` seconds in all; a body that misses the deadline gets 408.
* `client_gone`: whether a client waiting for a non-streamed answer has hung up.
* `guard_writes`: a streamed response whose client stops reading is dropped after
  `LINGMA_WRITE_TIMEOUT` seconds without progress, at its total deadline, or soon after the
  worker starts shutting down.

Deadlines are kept by one watchdog thread that shuts the socket down: a blocked read then
sees the end of the stream and a blocked write fails, under gevent and plain threads alike.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections.abc import Iterator

from .errors import ApiError

log = logging.getLogger(__name__)

READ_STEP = 64 * 1024
TICK = 0.25          # how often the watchdog looks at its deadlines
DRAIN_GRACE = 2.0    # how long a blocked write may last once the worker is shutting down


def client_socket(environ) -> socket.socket | None:
    """Return the client's socket, if the server exposes it."""
    return environ.get("gunicorn.socket") or environ.get("werkzeug.socket")


def shutdown(sock, how: int = socket.SHUT_RDWR) -> None:
    """Shut a socket down (either way), ignoring a socket that is already gone."""
    try:
        sock.shutdown(how)
    except (OSError, ValueError):
        pass


class Watchdog:
    """One thread that calls `check(now)` on every armed watch until it returns True."""

    def __init__(self):
        self._watches: set = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.draining_since: float | None = None

    def arm(self, watch) -> None:
        """Start checking `watch`."""
        with self._lock:
            self._watches.add(watch)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lingma-client-watchdog",
                                                daemon=True)
                self._thread.start()

    def disarm(self, watch) -> None:
        """Stop checking `watch`."""
        with self._lock:
            self._watches.discard(watch)

    def drain(self) -> None:
        """The worker is shutting down: blocked writes get only a short grace from now on."""
        self.draining_since = time.monotonic()

    def _run(self) -> None:
        while True:
            time.sleep(TICK)
            now = time.monotonic()
            with self._lock:
                watches = list(self._watches)
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


class _WriteGuard:
    """Drop a client whose pending write makes no progress (see the module docstring)."""

    def __init__(self, sock, write_timeout: float, deadline: float | None):
        self.sock, self.write_timeout, self.deadline = sock, write_timeout, deadline
        self.pending_since: float | None = None
        self.dropped = False

    def check(self, now: float) -> bool:
        since = self.pending_since
        if since is None:
            return False
        draining = WATCHDOG.draining_since
        late = (now - since > self.write_timeout
                or (self.deadline is not None and now > self.deadline)
                or (draining is not None and now - max(since, draining) > DRAIN_GRACE))
        if late:
            self.dropped = True
            log.info("dropping a client that stopped reading (write blocked %.1f s)", now - since)
            shutdown(self.sock)
        return late


def guard_writes(frames: Iterator, sock, write_timeout: float,
                 deadline: float | None = None) -> Iterator:
    """Yield `frames`, dropping the client when a write stalls; close `frames` however it ends."""
    if sock is None:
        yield from frames
        return
    guard = _WriteGuard(sock, write_timeout, deadline)
    WATCHDOG.arm(guard)
    try:
        for frame in frames:
            guard.pending_since = time.monotonic()
            yield frame
            guard.pending_since = None
    finally:
        WATCHDOG.disarm(guard)
        frames.close()
