"""`Database`: the store of one worker process: its engine, its buffers and its background writer.

Built by ops when the app is made (door.py's `open_database`: this module, and with it
SQLAlchemy, is imported only when the store is on), started with the worker (the writer's
first round migrates under the lock), stopped when the worker exits. The request path only
reaches `recorder` and `state.put` (buffer appends) and, when its memory misses, `state.get`
(shared.py: the one bounded read); reads for the operator go through `connect()`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any
from typing import ClassVar

from sqlalchemy.engine import URL
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from . import migrate_child
from . import schema
from . import url as urls
from .buffer import Buffer
from .engine import make_engine
from .settings import StoreSettings
from .shared import SharedState
from .usage import RETENTION_EVERY
from .usage import Recorder
from .usage import RowMaker
from .usage import retention
from .writer import Chore
from .writer import Reader
from .writer import Sink
from .writer import Writer
from .writer import always

# Alembic tells of its plugins and of every context it makes at INFO; the store logs the one
# line that matters (migrate.py). Set before migrate.py imports Alembic.
logging.getLogger("alembic").setLevel(logging.WARNING)
log = logging.getLogger(__name__)


class SchemaError(RuntimeError):
    """The database could not be migrated (e.g. it is at a revision this gateway does not know)."""


# what a read of the store may raise when the database is away, locked or ahead of this code
ERRORS = (SQLAlchemyError, OSError, SchemaError)


class Database:
    """One process's store: lazily connected; its writer runs between `start()` and `stop()`."""

    # ERRORS, for the code that holds a database (ops) and so need not import SQLAlchemy itself
    ERRORS: ClassVar[tuple[type[Exception], ...]] = ERRORS

    def __init__(self, settings: StoreSettings, url: URL, *, host: str | None = None,
                 migrate_in_child: bool = False) -> None:
        self.settings = settings
        self.url = url
        # a gateway worker migrates in a short-lived child process: Alembic (12 MB) never
        # loads into the long-lived worker (issue 17's memory budget)
        self.migrate_in_child = migrate_in_child and not (urls.is_sqlite(url) and urls.sqlite_path(url) is None)
        self.usage = Buffer[Mapping[str, Any]]("usage", settings.buffer)
        self.recorder = Recorder(self.usage, keep_prompts=settings.log_prompts)
        self.rows = RowMaker(log_prompts=settings.log_prompts, **({} if host is None else {"host": host}))
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()
        self._schema_ready = False
        self.writer = Writer(lambda: self.engine, settings.interval, where=self.describe(),
                             sinks=[Sink(self.usage, self.rows.insert)],
                             chores=[Chore("usage retention", RETENTION_EVERY, retention(settings.history_days))],
                             prepare=self.ensure_schema)
        # what a worker keeps for later requests, readable by every worker and host
        self.state = SharedState(self.writer, lambda: self.engine, ttl=settings.state_ttl,
                                 max_bytes=settings.state_max_bytes, wait=settings.interval)
        self.add_sink(self.state.buffer, self.state.write)

    def describe(self) -> str:
        """The database as logs show it: the URL without its password."""
        return urls.describe(self.url)

    @property
    def engine(self) -> Engine:
        """The engine (made on first use: building the app opens no connection)."""
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
                    self._engine = make_engine(self.url)
        return self._engine

    def ensure_schema(self) -> None:
        """Migrate to the newest schema under the lock, once per process (again after a failure).

        Alembic is imported only when the database is not at the newest revision already, and
        then in a child process when `migrate_in_child` (a worker's database).
        """
        if self._schema_ready:
            return
        with self.engine.connect() as connection:
            at_head = schema.current(connection) == schema.HEAD
        if not at_head and self.migrate_in_child:
            try:
                migrate_child.run(self.url)
            except migrate_child.MigrationFailed as exc:
                raise SchemaError(str(exc)) from exc
        elif not at_head:
            from . import migrate

            try:
                migrate.upgrade(self.engine)
            except (SQLAlchemyError, OSError):
                raise
            except Exception as exc:  # Alembic's own errors: an unknown revision, a broken script
                raise SchemaError(f"the store's database could not be migrated: {exc}") from exc
        self._schema_ready = True

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reads, on a migrated database."""
        self.ensure_schema()
        with self.engine.connect() as connection:
            yield connection

    def add_sink(self, buffer: Buffer[Any], write: Callable[[Connection, list[Any]], object]) -> None:
        """Have the writer flush `buffer` with `write` too, in the same transaction (before start)."""
        self.writer.sinks.append(Sink(buffer, write))

    def add_chore(self, name: str, every: float, run: Callable[[Connection], object]) -> None:
        """Have the writer run `run` every `every` seconds after a good flush (before start)."""
        self.writer.chores.append(Chore(name, every, run))

    def add_feed(self, feed: Callable[[], object]) -> None:
        """Have the writer call `feed` at the start of each round (before start)."""
        self.writer.feeds.append(feed)

    def add_reader(self, read: Callable[[Connection], object], due: Callable[[], bool] = always) -> None:
        """Have the writer run `read` in the first transaction of each round `due()` allows
        (every round by default; before start)."""
        self.writer.readers.append(Reader(read, due))

    def start(self) -> Writer:
        """Start the writer (idempotent)."""
        return self.writer.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the writer after its last flush, then close the engine's connections."""
        started = self.writer.running
        self.writer.stop(timeout)
        if self.writer.running:
            return  # its last flush still waits for the database: the process exit ends it
        left = self.writer.buffered()
        if left and started:
            log.warning("store: %d rows could not be written to %s before this worker stopped;"
                        " they are lost", left, self.describe())
        if self._engine is not None:
            self._engine.dispose()
