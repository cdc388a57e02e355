"""`SharedState`: values every worker and host can read, one row each in the `shared_state` table.

What a worker keeps for a later request (a response `previous_response_id` may name, an
Anthropic thread's message) stays in its memory, and is handed here too: `put()` appends it
to a bounded buffer and wakes the writer, which encodes it (JSON, off the request path) and
writes it in its next round, at once rather than at the end of its interval. A row is one
(scope, name), owned by an API key's name, forgotten `LINGMA_STATE_TTL` seconds after it was
made (the writer's hourly retention chore deletes it; a read never returns it before that).
A value whose encoding passes `LINGMA_STATE_MAX_BYTES` is not shared (logged at DEBUG): the
worker that made it still has it in memory.

`get()` is the read another worker makes when its memory misses: the one database read on the
request path. It is bounded: each try gives up after the engine's connect timeout (3 s) and,
on PostgreSQL, a STATEMENT_MS statement timeout; a row still in flight (in another worker's
buffer) is waited for, polling, for one store interval or IN_FLIGHT_WAIT (5 s), whichever is
longer; a worker whose writer is still on its first round (the migration, which may wait for
another worker's) waits for it up to STARTUP_WAIT. Under gevent a SQLite read queues in the worker's one native thread
(native.py) behind the writer's call under way, which SQLite bounds by its busy timeout.
A database that cannot be read (or that this worker's writer has not reached and migrated
yet) raises `Unavailable`
(defined in door.py, so that the faces catch it without loading SQLAlchemy), never "not
found": the value may exist.

Shared state runs only while the writer does (gunicorn's workers): without it nothing would
be written, so `put()` and `get()` are then no-ops and the worker keeps to its memory.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import time
from collections.abc import Callable

from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from . import tables
from .buffer import Buffer
from .door import Unavailable
from .usage import utcnow
from .writer import Writer
from .writer import reason

log = logging.getLogger(__name__)

BUFFER_LIMIT = 1000   # values waiting for the writer (each may hold a whole conversation)
STATEMENT_MS = 2000   # PostgreSQL statement timeout of one read, in milliseconds
FIRST_PAUSE = 0.01    # seconds between two reads of a row not there yet, doubling...
LAST_PAUSE = 0.1      # ...up to this
IN_FLIGHT_WAIT = 5.0  # seconds a read waits at least for a row another worker is writing
STARTUP_WAIT = 15.0   # seconds a read waits for its worker's first round (the migration) to end


@dataclasses.dataclass(frozen=True)
class Pending:
    """A value waiting for the writer; `encode` makes its bytes there, off the request path."""

    scope: str
    name: str
    owner: str
    encode: Callable[[], bytes]
    created_at: datetime.datetime
    expires_at: datetime.datetime


@dataclasses.dataclass(frozen=True)
class Found:
    """A row read back: its value and how many seconds it has left."""

    value: bytes
    ttl: float


class SharedState:
    """This worker's door to the `shared_state` table: `put()` through the writer, `get()` direct."""

    def __init__(self, writer: Writer, engine: Callable[[], Engine], *, ttl: float, max_bytes: int,
                 wait: float, limit: int = BUFFER_LIMIT) -> None:
        self.writer = writer
        self.engine = engine
        self.ttl = ttl                # seconds a value is kept (LINGMA_STATE_TTL)
        self.max_bytes = max_bytes    # largest value shared (LINGMA_STATE_MAX_BYTES)
        # seconds a missing row is waited for: a put wakes its writer at once, so a row is in
        # flight for one write round, not an interval, but a busy machine or a writer queued
        # behind another's lock can take seconds, and "not found" for a value that exists
        # makes a client restart its conversation
        self.wait = max(wait, IN_FLIGHT_WAIT)
        self.buffer = Buffer[Pending](tables.shared_state.name, limit)

    @property
    def active(self) -> bool:
        """Whether values are shared: the writer runs."""
        return self.writer.running

    def put(self, scope: str, name: str, owner: str, encode: Callable[[], bytes]) -> bool:
        """Queue a value for every worker (False: not active, or the buffer is full)."""
        if not self.active:
            return False
        now = utcnow()
        pending = Pending(scope, name, owner, encode, now, now + datetime.timedelta(seconds=self.ttl))
        if not self.buffer.append(pending):
            return False
        self.writer.flush_soon()
        return True

    def write(self, connection: Connection, batch: list[Pending]) -> None:
        """Write a batch of values (the writer's sink); a name written again replaces its row."""
        rows = []
        for item in batch:
            try:
                value = item.encode()
            except Exception:   # a bug, not the database: this value is lost, the flush goes on
                log.exception("shared state: %s %s could not be encoded", item.scope, item.name)
                continue
            if len(value) > self.max_bytes:
                log.debug("shared state: %s %s not shared: %d bytes, over LINGMA_STATE_MAX_BYTES = %d",
                          item.scope, item.name, len(value), self.max_bytes)
                continue
            rows.append({"scope": item.scope, "name": item.name, "owner": item.owner, "value": value,
                         "size": len(value), "created_at": item.created_at,
                         "expires_at": item.expires_at})
        if not rows:
            return
        table = tables.shared_state
        for scope in {row["scope"] for row in rows}:
            names = [row["name"] for row in rows if row["scope"] == scope]
            connection.execute(delete(table).where(table.c.scope == scope, table.c.name.in_(names)))
        latest = {(row["scope"], row["name"]): row for row in rows}   # one row per key, the last
        connection.execute(insert(table), list(latest.values()))

    def get(self, scope: str, name: str, owner: str) -> Found | None:
        """The value `owner` keeps under (scope, name), or None: absent (after waiting up to
        `wait` seconds for it to arrive), expired, or another owner's. Raises `Unavailable`."""
        if not self.active:
            return None
        started = time.monotonic()
        deadline = started + self.wait
        pause = FIRST_PAUSE
        while True:
            if self.writer.prepared:
                row = self._read(scope, name)
                if row is not None:
                    left = (row.expires_at - utcnow()).total_seconds()
                    if row.owner != owner or left <= 0:
                        return None
                    return Found(bytes(row.value), left)
            else:   # the worker's first round, which migrates, has not succeeded yet: have it now
                self.writer.flush_soon()
            now = time.monotonic()
            if now >= deadline and not self._starting(now, started + STARTUP_WAIT):
                if not self.writer.prepared:
                    raise Unavailable("the database is not reachable or not migrated yet")
                return None
            time.sleep(pause if now >= deadline else min(pause, deadline - now))   # others run meanwhile
            pause = min(pause * 2, LAST_PAUSE)

    def _starting(self, now: float, limit: float) -> bool:
        """Whether this worker's writer is still on its first round (it migrates, perhaps
        behind another worker's migration) and has not failed: worth waiting for, until `limit`,
        rather than answering a worker's first requests with `Unavailable`."""
        return not self.writer.prepared and self.writer.outage_since is None and now < limit

    def _read(self, scope: str, name: str):
        table = tables.shared_state
        query = (select(table.c.owner, table.c.value, table.c.expires_at)
                 .where(table.c.scope == scope, table.c.name == name))
        try:
            with self.engine().begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_MS}"))
                return connection.execute(query).first()
        except (SQLAlchemyError, OSError) as exc:
            raise Unavailable(reason(exc)) from exc
