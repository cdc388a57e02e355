"""SQLite's calls under gevent run in a native thread: the event loop runs while SQLite waits.

The gevent side runs in a child under `python -m gevent.monkey` (gevent_writer.py); this test,
on plain threads, migrates a SQLite file and holds its write lock (`BEGIN IMMEDIATE`) meanwhile.
Without gevent's patching `native.call` is a plain call, checked here too.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import select

from lingma_flask.store import native
from lingma_flask.store import tables
from lingma_flask.store.database import Database
from lingma_flask.store.settings import StoreSettings
from lingma_flask.store.url import normalize
from tests.pg import wait_for

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CHILD_DEADLINE = 120.0   # seconds: far past what the child needs, short of a hang
unpatched = pytest.mark.skipif(native.patched(), reason="this process runs under gevent's patching")


@pytest.fixture
def locked(tmp_path):
    """A migrated SQLite file's URL, and the connection that holds its write lock (released by
    committing)."""
    url = f"sqlite:///{tmp_path / 'lingma.db'}"
    database = Database(StoreSettings(url=url), normalize(url))
    database.ensure_schema()
    database.stop()
    holder = sqlite3.connect(tmp_path / "lingma.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    yield url, holder
    if holder.in_transaction:
        holder.execute("ROLLBACK")
    holder.close()


def start_child(url: str, mode: str, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "gevent.monkey", str(HERE / "gevent_writer.py"), url, mode],
                                stdout=out, stderr=subprocess.STDOUT, cwd=str(REPO))


def stored(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return connection.execute(f"SELECT count(*) FROM {tables.usage.name}").fetchone()[0]


def test_the_event_loop_runs_while_a_flush_waits_for_sqlites_lock(locked, tmp_path):
    url, holder = locked
    log = tmp_path / "child.log"
    child = start_child(url, "flush", log)
    try:
        wait_for(lambda: "ticking" in log.read_text() or child.poll() is not None, timeout=CHILD_DEADLINE)
        assert "ticking" in log.read_text(), log.read_text()
        assert stored(tmp_path / "lingma.db") == 0   # the flush still waits for the lock
        holder.execute("COMMIT")
        assert child.wait(CHILD_DEADLINE) == 0, log.read_text()
    finally:
        child.kill()
        child.wait()
    lines = log.read_text().splitlines()
    assert "written 5" in lines and "stored 5" in lines, lines
    assert "after stop 6" in lines, lines   # the writer's last flush when it stops, as before
    assert stored(tmp_path / "lingma.db") == 6


def test_a_worker_exits_while_its_writer_still_waits_for_sqlite(locked, tmp_path):
    url, _holder = locked
    log = tmp_path / "child.log"
    child = start_child(url, "exit", log)
    try:
        # the lock stays held: SQLite in the native thread waits on (600 s), the process must not
        assert child.wait(CHILD_DEADLINE) == 0, log.read_text()
    finally:
        child.kill()
        child.wait()
    assert "stopped running=True" in log.read_text().splitlines(), log.read_text()
    assert stored(tmp_path / "lingma.db") == 0


@unpatched
def test_without_gevents_patching_a_call_runs_in_the_callers_thread():
    assert not native.patched()
    here = threading.get_ident()
    assert native.call(threading.get_ident) == here
    with pytest.raises(ZeroDivisionError):
        native.call(lambda: 1 / 0)


@unpatched
def test_without_gevents_patching_the_engine_hands_out_sqlites_own_connections(tmp_path):
    url = f"sqlite:///{tmp_path / 'lingma.db'}"
    database = Database(StoreSettings(url=url), normalize(url))
    try:
        with database.connect() as connection:
            assert isinstance(connection.connection.driver_connection, sqlite3.Connection)
            assert connection.execute(select(func.count()).select_from(tables.usage)).scalar_one() == 0
    finally:
        database.stop()
