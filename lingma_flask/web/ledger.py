"""`KeyLedger`: this worker's count of each key's chats per minute, open chats and daily tokens.

Flask-free and in memory: admitting a chat is a few dictionary operations under one lock,
never a database call. The windows are fixed and in UTC: requests per minute count the chats
admitted since the minute began (so a burst may straddle two minutes: up to twice `rpm` in a
moment), daily tokens count since midnight UTC. Open chats are counted from admission until the
chat's `Hold` is finished (the request log's line is written, however the request ended).

Sharing between workers and hosts is a seam, not done here (the store's key counters do it:
store/counters.py, wired by ops/fleet.py): a store calls `take_deltas()` now and then (what
this worker counted since the last call) and `set_shared()` with the totals the *other*
workers and hosts reported for the current minute and day, which are added to this worker's
own when checking (and forgotten when the minute, or the day, is over). Open chats are this
worker's only. Without a store every limit holds per worker.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from ..keylimits import Limit

MINUTE = 60
DAY = 86_400  # Unix days begin at midnight UTC


class OverLimit(Exception):
    """A chat a key's limit refuses: which limit, its value, and seconds until it would pass."""

    def __init__(self, limit: str, value: int, retry_after: float) -> None:
        super().__init__(f"over the {limit} limit of {value}")
        self.limit = limit
        self.value = value
        self.retry_after = retry_after


class _Counts:
    """One key's counts in this worker, and what the others reported."""

    __slots__ = ("minute", "requests", "day", "tokens", "open",
                 "shared_minute", "shared_requests", "shared_day", "shared_tokens")

    def __init__(self) -> None:
        self.minute = self.day = self.shared_minute = self.shared_day = -1
        self.requests = self.tokens = self.open = self.shared_requests = self.shared_tokens = 0

    def roll(self, minute: int, day: int) -> None:
        """Start the counts of a new minute or day afresh."""
        if self.minute != minute:
            self.minute, self.requests = minute, 0
        if self.day != day:
            self.day, self.tokens = day, 0

    def minute_requests(self, minute: int) -> int:
        return self.requests + (self.shared_requests if self.shared_minute == minute else 0)

    def day_tokens(self, day: int) -> int:
        return self.tokens + (self.shared_tokens if self.shared_day == day else 0)


class Hold:
    """One admitted chat's place in its key's counts; `finish(tokens)` ends it (once)."""

    __slots__ = ("_ledger", "name", "_done")

    def __init__(self, ledger: KeyLedger, name: str) -> None:
        self._ledger = ledger
        self.name = name
        self._done = False

    def finish(self, tokens: int = 0) -> None:
        """The chat ended: count its estimated tokens and free its open-chat place."""
        if not self._done:
            self._done = True
            self._ledger._finish(self.name, max(0, int(tokens)))


class KeyLedger:
    """Each key's chats this minute, open chats and tokens today, in this worker."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, _Counts] = {}
        self._deltas: dict[str, list[int]] = {}   # name -> [requests, tokens] since take_deltas

    def admit(self, name: str, limit: Limit) -> Hold:
        """Count a chat of key `name`, or raise OverLimit (the limit with the longest wait)."""
        now = self._clock()
        minute, day = int(now // MINUTE), int(now // DAY)
        with self._lock:
            counts = self._counts.get(name) or self._counts.setdefault(name, _Counts())
            counts.roll(minute, day)
            refusals = []
            if limit.daily_tokens is not None and counts.day_tokens(day) >= limit.daily_tokens:
                refusals.append(OverLimit("daily_tokens", limit.daily_tokens, (day + 1) * DAY - now))
            if limit.rpm is not None and counts.minute_requests(minute) >= limit.rpm:
                refusals.append(OverLimit("rpm", limit.rpm, (minute + 1) * MINUTE - now))
            if limit.concurrent is not None and counts.open >= limit.concurrent:
                refusals.append(OverLimit("concurrent", limit.concurrent, 1.0))
            if refusals:
                raise max(refusals, key=lambda over: over.retry_after)
            counts.requests += 1
            counts.open += 1
            self._delta(name)[0] += 1
        return Hold(self, name)

    def _finish(self, name: str, tokens: int) -> None:
        now = self._clock()
        with self._lock:
            counts = self._counts[name]
            counts.roll(int(now // MINUTE), int(now // DAY))
            counts.open = max(0, counts.open - 1)
            counts.tokens += tokens
            if tokens:
                self._delta(name)[1] += tokens

    def _delta(self, name: str) -> list[int]:
        delta = self._deltas.get(name)
        if delta is None:
            delta = self._deltas[name] = [0, 0]
        return delta

    def take_deltas(self) -> dict[str, tuple[int, int]]:
        """Return {name: (chats admitted, tokens counted)} since the last call, and start afresh."""
        with self._lock:
            deltas, self._deltas = self._deltas, {}
        return {name: (requests, tokens) for name, (requests, tokens) in deltas.items()}

    def set_shared(self, name: str, minute_requests: int, day_tokens: int, at: float | None = None) -> None:
        """Add what other workers and hosts counted for key `name` this minute and today.

        `at` is the moment the totals are of (default: now): totals read just before a minute
        ended count for that minute only, not for the next.
        """
        now = self._clock() if at is None else at
        with self._lock:
            counts = self._counts.get(name) or self._counts.setdefault(name, _Counts())
            counts.shared_minute, counts.shared_requests = int(now // MINUTE), max(0, int(minute_requests))
            counts.shared_day, counts.shared_tokens = int(now // DAY), max(0, int(day_tokens))

    def usage(self, name: str) -> dict[str, int]:
        """Key `name`'s counts as checked now: chats this minute, open chats, tokens today."""
        now = self._clock()
        minute, day = int(now // MINUTE), int(now // DAY)
        with self._lock:
            counts = self._counts.get(name) or _Counts()
            counts.roll(minute, day)
            return {"minute_requests": counts.minute_requests(minute), "open": counts.open,
                    "day_tokens": counts.day_tokens(day)}


def wait_seconds(over: OverLimit) -> int:
    """The Retry-After of a refusal: whole seconds, at least 1."""
    return max(1, math.ceil(over.retry_after))
