"""One SQLAlchemy engine per process for the store's URL: SQLite in WAL mode, or PostgreSQL via psycopg 3.

SQLite: the file's folder is made, each connection turns on WAL (readers never wait for the
writer, and several workers write one file) and waits up to BUSY_SECONDS for another
writer's lock; under gevent its calls run in a native thread (offloaded.py), so that neither
that wait nor a commit stalls the worker's event loop. PostgreSQL: a small pool (one writer
and the admin's reads per worker), connections checked before use (a restarted server leaves
dead ones behind), and a short connect timeout, so a flush during an outage fails fast
instead of hanging the writer (psycopg already waits through gevent: it stays on the loop).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from . import native
from . import offloaded
from .url import sqlite_path

BUSY_SECONDS = 5.0
CONNECT_TIMEOUT = 3  # seconds (psycopg takes whole seconds)
POOL_SIZE = 2
POOL_OVERFLOW = 2
POOL_TIMEOUT = 2  # seconds to wait for a free connection: a request's read of shared state is bounded


def make_engine(url: URL) -> Engine:
    """Create the engine for `url` (connections are opened lazily, on first use)."""
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    options: dict[str, Any] = {"pool_pre_ping": True, "pool_size": POOL_SIZE,
                               "max_overflow": POOL_OVERFLOW, "pool_recycle": 1800,
                               "pool_timeout": POOL_TIMEOUT}
    if url.get_backend_name() == "postgresql":
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT, "application_name": "lingma-flask"}
    return create_engine(url, **options)


def _sqlite_engine(url: URL) -> Engine:
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if path is None:  # in memory: one connection, or each would see its own empty database
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        engine = create_engine(url, connect_args={"timeout": BUSY_SECONDS}, pool_timeout=POOL_TIMEOUT)

    @event.listens_for(engine, "do_connect")
    def _do_connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        # under gevent, SQLite's C calls run in a native thread, not on the event loop (native.py)
        return offloaded.connect(dialect.loaded_dbapi.connect, cargs, cparams) if native.patched() else None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if path is not None:
                cursor.execute("PRAGMA journal_mode=WAL")
            # WAL's own recommendation: durable across a process crash, one fsync per checkpoint
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    return engine
