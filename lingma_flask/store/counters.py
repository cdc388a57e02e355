"""Key counts shared by every worker and host: the per-key limits (web/ledger.py) through the store.

In each round of the worker's writer:

1. `feed` takes what the worker's ledger counted since the last round (`take_deltas()`: chats
   admitted, estimated tokens of chats ended) into a bounded buffer, stamped with the minute
   and the UTC day of that moment;
2. `write`, a sink in the round's transaction, adds them to this worker's rows of `key_counts`
   (one row per key, window and worker: tables.py says why);
3. `read`, a reader in the same transaction, sums the *other* workers' rows for the current
   minute and UTC day and hands each key's sums to the ledger (`set_shared()`), which adds them
   to this worker's own counts when it checks a chat.

A chat admitted by one worker is thus seen by every other within two rounds (one to be
written, one more to be read: LINGMA_STORE_INTERVAL each). While the database is away the
counts wait in the buffer and each worker limits by its own counts plus the others' last read.
`retention` (a chore) deletes the windows that are over.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Callable
from collections.abc import Mapping

from sqlalchemy import and_
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.engine import Connection

from . import tables
from .buffer import Buffer
from .upsert import add
from .upsert import upsert
from .worker_id import worker_id

MINUTE = 60
DAY = 86_400   # Unix days begin at midnight UTC, as the ledger's
MINUTE_ROWS = "minute"
DAY_ROWS = "day"
RETENTION_EVERY = 300.0   # seconds between two deletions of the windows that are over
KEEP_MINUTES = 2          # minute windows kept after they end (a slow clock's reads)
KEEP_DAYS = 1             # day windows kept after they end

Take = Callable[[], Mapping[str, tuple[int, int]]]          # KeyLedger.take_deltas
Share = Callable[[str, int, int, float], object]           # (name, minute requests, day tokens, at)


@dataclasses.dataclass(frozen=True, slots=True)
class Count:
    """What one worker counted for one key in one round, and when (its minute and day)."""

    key: str
    minute: int     # minutes since the Unix epoch
    day: int        # days since the Unix epoch (UTC)
    requests: int
    tokens: int


def start_of(window: int, seconds: int) -> datetime.datetime:
    """The first moment of window number `window` of `seconds`, as the store keeps times."""
    return datetime.datetime.fromtimestamp(window * seconds, datetime.UTC).replace(tzinfo=None)


class KeyCounters:
    """One worker's side of the shared key counts (see the module docstring)."""

    def __init__(self, take: Take, share: Share, *, buffer: int, clock: Callable[[], float] = time.time,
                 worker: Callable[[], str] = worker_id) -> None:
        self.take = take
        self.share = share
        self.clock = clock
        self.worker = worker
        self.buffer = Buffer[Count]("key_counts", buffer)

    def feed(self) -> None:
        """Move the ledger's counts since the last round into the buffer (the writer's feed)."""
        deltas = self.take()
        if not deltas:
            return
        now = self.clock()
        minute, day = int(now // MINUTE), int(now // DAY)
        for key, (requests, tokens) in deltas.items():
            if requests or tokens:
                self.buffer.append(Count(key[:tables.KEY_CHARS], minute, day, int(requests), int(tokens)))

    def write(self, connection: Connection, items: list[Count]) -> None:
        """Add a batch of counts to this worker's rows (the writer's sink)."""
        sums: dict[tuple[str, str, datetime.datetime], list[int]] = {}
        for item in items:
            # day rows count both; minute rows the chats only (rpm)
            windows = [(DAY_ROWS, start_of(item.day, DAY), item.tokens)]
            if item.requests:
                windows.append((MINUTE_ROWS, start_of(item.minute, MINUTE), 0))
            for period, start, tokens in windows:
                total = sums.setdefault((item.key, period, start), [0, 0])
                total[0] += item.requests
                total[1] += tokens
        me = self.worker()
        rows = [{"key": key, "period": period, "start": start, "worker": me, "requests": requests,
                 "tokens": tokens} for (key, period, start), (requests, tokens) in sums.items()]
        upsert(connection, tables.key_counts, rows, {"requests": add, "tokens": add})

    def read(self, connection: Connection) -> dict[str, tuple[int, int]]:
        """Hand the ledger the other workers' sums for the current minute and day (the writer's
        reader); return them, {key: (requests this minute, tokens today)}."""
        now = self.clock()
        minute, day = start_of(int(now // MINUTE), MINUTE), start_of(int(now // DAY), DAY)
        c = tables.key_counts.c
        query = (select(c.key, c.period, func.sum(c.requests), func.sum(c.tokens))
                 .where(c.worker != self.worker(),
                        or_(and_(c.period == MINUTE_ROWS, c.start == minute),
                            and_(c.period == DAY_ROWS, c.start == day)))
                 .group_by(c.key, c.period))
        shares: dict[str, list[int]] = {}
        for key, period, requests, tokens in connection.execute(query):
            share = shares.setdefault(key, [0, 0])
            if period == MINUTE_ROWS:
                share[0] = int(requests or 0)
            else:
                share[1] = int(tokens or 0)
        for key, (requests, tokens) in shares.items():
            self.share(key, requests, tokens, now)
        return {key: (requests, tokens) for key, (requests, tokens) in shares.items()}

    def retention(self, connection: Connection) -> None:
        """Delete the windows that are over (the writer's chore)."""
        now = self.clock()
        c = tables.key_counts.c
        old_minute = start_of(int(now // MINUTE) - KEEP_MINUTES, MINUTE)
        old_day = start_of(int(now // DAY) - KEEP_DAYS, DAY)
        connection.execute(delete(tables.key_counts).where(or_(
            and_(c.period == MINUTE_ROWS, c.start < old_minute),
            and_(c.period == DAY_ROWS, c.start < old_day))))
