"""`Writer`: one background writer per worker, flushing every buffer in one transaction per interval.

It runs on one daemon thread (a greenlet under gevent's patching): requests only append to
bounded `Buffer`s, and nothing on the request path ever waits for the database.

* Every `interval` seconds it writes what every sink's buffer holds (at most BATCH rows per
  sink per transaction, CHUNK rows a statement, and again at once while more wait), then
  discards what it committed.
* Before the first flush it runs `prepare` (the migrations) until that succeeds.
* A failing database is an *outage*: the rows stay buffered (up to each buffer's limit; more
  are dropped and counted), the outage is logged once, and when a flush succeeds again the
  recovery is logged with the rows that caught up.
* `chores` run every so often after a good flush (retention; later, reading shared state back).
* `feeds` run at the start of each round: they move what the worker counted in memory into a
  buffer (the key limits' counts). `readers` run in each round's first transaction, after the
  sinks' writes, and a round opens one for them even with nothing buffered: what every worker
  reads back (the other workers' counts, their heartbeats). Each says whether it is due this
  round, so an idle worker's round that has nothing to write or read opens no transaction. A
  reader's database error is an outage like a write's.
* `flush_soon()` wakes it before its interval is up (shared state another worker is about to
  read); while the database is away it keeps its interval, so an outage is not hammered.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

from .buffer import Buffer

if TYPE_CHECKING:   # SQLAlchemy loads with the engine, not with this module (ops imports `reason`)
    from sqlalchemy.engine import Connection
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

BATCH = 2000   # rows per sink per transaction: a catch-up never holds one transaction for long
# rows per statement: building and binding a row costs some 25 us of CPU, so the writer lets
# the worker's requests run between statements (under gevent it shares their event loop)
CHUNK = 100
REASON_CHARS = 200


@dataclasses.dataclass
class Sink:
    """A buffer and how a batch of its items is written inside the flush's transaction."""

    buffer: Buffer[Any]
    write: Callable[[Connection, list[Any]], object]


def always() -> bool:
    """A reader's `due` that reads in every round."""
    return True


@dataclasses.dataclass
class Reader:
    """Shared state read back in a round's first transaction, in the rounds `due()` allows."""

    read: Callable[[Connection], object]
    due: Callable[[], bool] = always


@dataclasses.dataclass
class Chore:
    """Work done every `every` seconds on a connection (its own transaction), after a good flush."""

    name: str
    every: float
    run: Callable[[Connection], object]
    due: float = 0.0   # monotonic time; 0: at the first good flush


def reason(exc: BaseException) -> str:
    """A short, safe description of a database error: the driver's first line, never the SQL or its
    parameters (SQLAlchemy's own message carries both, and parameters may hold prompt text)."""
    inner = getattr(exc, "orig", None) or exc
    first = (str(inner).strip().splitlines() or [""])[0]
    return f"{type(inner).__name__}: {first}"[:REASON_CHARS]


class Writer:
    """Flush the sinks' buffers to `engine()` every `interval` seconds; never raise."""

    def __init__(self, engine: Callable[[], Engine], interval: float, *, sinks: Sequence[Sink] = (),
                 chores: Sequence[Chore] = (), prepare: Callable[[], object] | None = None,
                 where: str = "", on_tick: Callable[[int], object] | None = None,
                 name: str = "lingma-store-writer") -> None:
        self.engine = engine        # made on first use: a writer that never writes opens nothing
        self.interval = interval
        self.sinks = list(sinks)
        self.chores = list(chores)
        self.feeds: list[Callable[[], object]] = []
        self.readers: list[Reader] = []
        self.prepare = prepare
        self.where = where          # the database as logs show it (no password)
        self.on_tick = on_tick      # told the rows still buffered after each flush (a gauge)
        self.name = name
        self.prepared = prepare is None
        self.outage_since: float | None = None   # monotonic time of the first failed flush
        self.written = 0            # rows committed since start
        self._caught_up = 0         # rows committed since the outage ended (for its log line)
        self._dropped_at_outage = 0
        self._drops_logged = False
        self._stop = threading.Event()
        self._wake = threading.Event()   # flush_soon(), or stop()
        self._thread: threading.Thread | None = None
        self._flushing = threading.Lock()

    # -- the thread ---------------------------------------------------------------------
    def start(self) -> Writer:
        """Start the writer's thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    @property
    def running(self) -> bool:
        """Whether the thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread after one last flush; wait for it at most `timeout` seconds."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        """Whether `stop()` was called: the round under way (or next) is the worker's last."""
        return self._stop.is_set()

    def flush_soon(self) -> None:
        """Have the running writer flush now rather than at the end of its interval (a no-op
        while the database is away: the writer then keeps trying once per interval)."""
        if self.outage_since is None:
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            self.tick()
        self.tick()  # the last rows of a stopping worker

    # -- one round ----------------------------------------------------------------------
    def tick(self) -> int:
        """Prepare if needed, flush, run the chores that are due; return the rows written."""
        try:
            written = self.flush()
            if self.outage_since is None:
                self._chores()
        except Exception:  # a bug, not the database: say so, and keep the worker's writer alive
            log.exception("store: the writer's round failed")
            written = 0
        if self.on_tick is not None:
            self.on_tick(self.buffered())
        return written

    def buffered(self) -> int:
        """Rows waiting in every buffer."""
        return sum(len(sink.buffer) for sink in self.sinks)

    def dropped(self) -> int:
        """Rows refused by a full buffer since start."""
        return sum(sink.buffer.dropped for sink in self.sinks)

    def flush(self) -> int:
        """Write what the buffers hold, batch after batch; return the rows written.

        A database error ends the flush with every uncommitted row still buffered.
        """
        with self._flushing:
            total = 0
            self._feed()
            try:
                if not self.prepared:
                    assert self.prepare is not None
                    self.prepare()
                    self.prepared = True
                readers = [reader.read for reader in self.readers if self._due(reader)]
                while True:
                    batches = [(sink, sink.buffer.peek(BATCH)) for sink in self.sinks]
                    batches = [(sink, items) for sink, items in batches if items]
                    if not batches and not readers:
                        break
                    with self.engine().begin() as connection:
                        for sink, items in batches:
                            for start in range(0, len(items), CHUNK):
                                if start:
                                    time.sleep(0)
                                sink.write(connection, items[start:start + CHUNK])
                        for read in readers:
                            read(connection)
                    readers = []
                    for sink, items in batches:
                        sink.buffer.discard(len(items))
                    count = sum(len(items) for _, items in batches)
                    total += count
                    self.written += count
                    if count < BATCH * len(batches):
                        break
                    time.sleep(0)  # a long catch-up lets the worker's requests run between batches
            except Exception as exc:
                self._failed(exc)
                return total
            self._succeeded(total)
            return total

    @staticmethod
    def _due(reader: Reader) -> bool:
        try:
            return reader.due()
        except Exception:  # a bug, not the database: read, as before there was a `due`
            log.exception("store: a reader's due check failed")
            return True

    def _feed(self) -> None:
        for feed in self.feeds:
            try:
                feed()
            except Exception:  # a bug, not the database: the other feeds and the flush go on
                log.exception("store: a feed of the writer failed")

    def _failed(self, exc: BaseException) -> None:
        if self.outage_since is None:
            self.outage_since = time.monotonic()
            self._caught_up = 0
            self._dropped_at_outage = self.dropped()
            limits = ", ".join(f"{s.buffer.limit} {s.buffer.name} rows" for s in self.sinks)
            log.warning("store unavailable at %s (%s): buffering up to %s in this worker until it"
                        " is back", self.where, reason(exc), limits)
        self._log_drops()

    def _succeeded(self, written: int) -> None:
        if self.outage_since is not None:
            self._caught_up += written
            lasted = time.monotonic() - self.outage_since
            lost = self.dropped() - self._dropped_at_outage
            self.outage_since = None
            self._drops_logged = False
            log.info("store available again at %s after %.1f s: %d buffered rows caught up, %d dropped",
                     self.where, lasted, self._caught_up, lost)
        else:
            self._log_drops()

    def _log_drops(self) -> None:
        """Say once (per outage, or per run while the database keeps up) that rows are being dropped."""
        if not self._drops_logged and self.dropped() > self._dropped_at_outage:
            self._drops_logged = True
            full = ", ".join(s.buffer.name for s in self.sinks if len(s.buffer) >= s.buffer.limit) or "a"
            log.warning("store: %s buffer full, new rows are dropped (counted in"
                        " lingma_store_dropped_rows)", full)

    def _chores(self) -> None:
        now = time.monotonic()
        for chore in self.chores:
            if now < chore.due:
                continue
            chore.due = now + chore.every
            try:
                with self.engine().begin() as connection:
                    chore.run(connection)
            except Exception as exc:
                log.warning("store: %s failed (%s); next try in %.0f s", chore.name, reason(exc), chore.every)
