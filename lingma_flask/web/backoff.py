"""Backoff on wrong keys: a client that keeps guessing is refused for a while, unheard.

A client (its address, as LINGMA_TRUSTED_PROXIES forward it; an IPv6 client's /64) that sends
`LIMIT` different wrong keys of one kind (API keys, or the admin key by sign-in or Bearer)
within `WINDOW` seconds gets 429 `too_many_failed_attempts` with `Retry-After` for `LOCKOUT`
seconds whenever it presents one again: its keys are not even compared, so the lockout is not
an oracle. Guessing needs different keys, so a misconfigured client that repeats one wrong key
is never locked out (nor are the good clients that share its address). Other clients are not
affected. The first failure of a burst and the lockout are logged, not each attempt.

The counts live in each worker's memory (gunicorn workers do not share them), in an LRU dict
of at most `CAPACITY` clients; wrong keys are remembered only as salted 8-byte hashes.
"""

from __future__ import annotations

import collections
import hashlib
import ipaddress
import logging
import math
import os
import threading
import time

from flask import current_app
from flask import request

from .errors import ApiError

LIMIT = 10
WINDOW = 60.0
LOCKOUT = 60.0
CAPACITY = 4096
EXTENSION = "lingma_backoff"
CODE = "too_many_failed_attempts"

log = logging.getLogger(__name__)


class Burst:
    """One client's wrong keys since `started`, and the end of its lockout."""

    __slots__ = ("started", "guesses", "locked_until")

    def __init__(self, now: float):
        self.started = now
        self.guesses: set[bytes] = set()   # hashes of the wrong keys
        self.locked_until = 0.0


class Backoff:
    """Wrong keys per (kind, client), bounded in size; `clock` is injectable for tests."""

    def __init__(self, limit: int = LIMIT, window: float = WINDOW, lockout: float = LOCKOUT,
                 capacity: int = CAPACITY, clock=time.monotonic):
        self.limit, self.window, self.lockout, self.capacity = limit, window, lockout, capacity
        self.clock = clock
        self._salt = os.urandom(16)
        self._bursts: collections.OrderedDict[tuple[str, str], Burst] = collections.OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._bursts)

    def retry_after(self, kind: str, client: str) -> float:
        """Return the seconds left of the client's lockout (0 when it is not locked out)."""
        with self._lock:
            burst = self._bursts.get((kind, client))
            return max(0.0, burst.locked_until - self.clock()) if burst else 0.0

    def fail(self, kind: str, client: str, what: str, key: str) -> None:
        """Count a wrong `key`; log the burst's first failure and the lockout it may start."""
        now, guess = self.clock(), self._hash(key)
        with self._lock:
            burst = self._burst(kind, client, now)
            before = len(burst.guesses)
            burst.guesses.add(guess)
            guesses = len(burst.guesses)
            if guesses >= self.limit:
                burst.guesses.clear()  # locked: the hashes are no longer needed
                burst.locked_until = now + self.lockout
        if before == 0:
            log.warning("%s refused (an incorrect key) from %s; more failures from it within %ds are"
                        " counted, not logged", what, client, self.window)
        if guesses >= self.limit:
            log.warning("%s: %d different incorrect keys from %s within %ds; refusing its keys for"
                        " %ds", what, guesses, client, self.window, self.lockout)

    def _hash(self, key: str) -> bytes:
        return hashlib.blake2b(key.encode(errors="replace"), key=self._salt, digest_size=8).digest()

    def _burst(self, kind: str, client: str, now: float) -> Burst:
        """Return the client's current burst, a fresh one when its window and lockout are over."""
        name = (kind, client)
        burst = self._bursts.get(name)
        if burst is None or (now - burst.started >= self.window and now >= burst.locked_until):
            burst = Burst(now)
        self._bursts[name] = burst
        self._bursts.move_to_end(name)
        while len(self._bursts) > self.capacity:
            self._bursts.popitem(last=False)
        return burst


def backoff() -> Backoff:
    """Return this app's (this worker's) backoff."""
    return current_app.extensions.setdefault(EXTENSION, Backoff())


def client_address() -> str:
    """Name the client: its address (an IPv6 client's /64).

    That is the TCP peer, or behind LINGMA_TRUSTED_PROXIES the address the nearest proxy saw
    (create_app's ProxyFix has set request.remote_addr so); X-Forwarded-For is not read here.
    """
    address = request.remote_addr or "unknown"
    peer = _ip(address)
    if peer is None:
        return address[:64]
    if peer.version == 6:
        return str(ipaddress.ip_network(f"{peer}/64", strict=False))
    return str(peer)


def locked_for(kind: str) -> int:
    """Return the whole seconds this client stays locked out of `kind` keys (0: it is not)."""
    limiter = backoff()
    if not limiter:  # no wrong key lately from anyone: skip naming the client (an IP parse)
        return 0
    wait = limiter.retry_after(kind, client_address())
    return max(1, math.ceil(wait)) if wait > 0 else 0


def lockout_message(seconds: int) -> str:
    """Tell a locked-out client when to try again."""
    return f"Too many wrong keys from this client: try again in {seconds} s."


def refuse_if_locked(kind: str) -> None:
    """Raise 429 `too_many_failed_attempts` while this client is locked out of `kind` keys."""
    seconds = locked_for(kind)
    if seconds:
        raise ApiError(429, lockout_message(seconds), code=CODE,
                       headers={"Retry-After": str(seconds)})


def count_failure(kind: str, what: str, key: str) -> None:
    """Count the wrong `kind` key `key` from this client (`what` names it in the log)."""
    backoff().fail(kind, client_address(), what, key)


def _ip(address: str):
    """Parse an address (an IPv4-mapped IPv6 one as IPv4), or return None."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return None
    return getattr(ip, "ipv4_mapped", None) or ip
