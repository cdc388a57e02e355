"""Bring the database to the newest schema under a lock, so workers and hosts starting together
migrate it once.

The lock: on SQLite an OS file lock beside the database file (`<db>.migrate-lock`), taken
without blocking and retried, so that under gevent a waiting worker never blocks its event
loop; on PostgreSQL a session-level `pg_advisory_lock`, held by the connection that migrates.
Every worker calls `upgrade` when its writer starts; `python -m lingma_flask db upgrade` does
the same from a shell, for operators who migrate before they deploy.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Engine

from .schema import current
from .url import sqlite_path

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
LOCK_SUFFIX = ".migrate-lock"
# the advisory lock's number: any 64-bit constant the gateway's database uses for nothing else
ADVISORY_LOCK = 0x4C696E676D61  # "Lingma"
LOCK_TIMEOUT = 120.0   # seconds: a migration longer than that is a stuck one
LOCK_POLL = 0.05
_local_lock = threading.Lock()  # in-memory SQLite: the threads of this process only


class MigrationLockTimeout(TimeoutError):
    """Another process held the migration lock for longer than the timeout."""


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration: the package's migrations, run on `connection`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision the package ships."""
    revision = ScriptDirectory.from_config(config()).get_current_head()
    if revision is None:  # never: the package ships its migrations
        raise RuntimeError("the store ships no migrations")
    return revision


def upgrade(engine: Engine, timeout: float = LOCK_TIMEOUT) -> bool:
    """Migrate the database to the newest revision under the lock; return whether anything ran."""
    with engine.connect() as probe:
        if current(probe) == head():
            return False  # the common start: nothing to lock for
    with migration_lock(engine, timeout) as connection:
        before = current(connection)
        connection.commit()
        if before == head():
            return False  # another process migrated it while this one waited
        with connection.begin():
            command.upgrade(config(connection), "head")
        log.info("store: database migrated from %s to %s", before or "empty", head())
        return True


@contextlib.contextmanager
def migration_lock(engine: Engine, timeout: float) -> Iterator[Connection]:
    """Hold the migration lock for the database; yield a connection to migrate with."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection, advisory_lock(connection, timeout):
            yield connection
        return
    path = sqlite_path(engine.url)
    with (file_lock(path.with_name(path.name + LOCK_SUFFIX), timeout) if path else memory_lock(timeout)):
        with engine.connect() as connection:
            yield connection


@contextlib.contextmanager
def advisory_lock(connection: Connection, timeout: float) -> Iterator[None]:
    """PostgreSQL's session lock on ADVISORY_LOCK, waited for at most `timeout` seconds."""
    connection.execute(text(f"SET lock_timeout = {int(timeout * 1000)}"))
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK})
    connection.execute(text("SET lock_timeout = 0"))
    connection.commit()
    try:
        yield
    finally:
        connection.rollback()  # a failed migration leaves its transaction aborted
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK})
        connection.commit()


@contextlib.contextmanager
def file_lock(path: Path, timeout: float) -> Iterator[None]:
    """An exclusive OS lock on `path`, polled without blocking (a gevent worker's loop runs on)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise MigrationLockTimeout(f"the migration lock {path} was held for {timeout:g} s") from None
                time.sleep(LOCK_POLL)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def memory_lock(timeout: float) -> Iterator[None]:
    """This process's lock, for an in-memory database (tests)."""
    if not _local_lock.acquire(timeout=timeout):
        raise MigrationLockTimeout(f"the migration lock was held for {timeout:g} s")
    try:
        yield
    finally:
        _local_lock.release()
