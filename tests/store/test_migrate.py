"""Migrations: from an empty database to the newest schema, idempotent, once under the lock."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert
from sqlalchemy import inspect
from sqlalchemy import text

from lingma_flask.store import migrate
from lingma_flask.store import schema
from lingma_flask.store.database import SchemaError
from lingma_flask.store.engine import make_engine
from lingma_flask.store.tables import METADATA
from lingma_flask.store.tables import shared_state
from lingma_flask.store.url import normalize
from lingma_flask.store.url import sqlite_path
from tests.pg import wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine(db_url):
    engine = make_engine(normalize(db_url))
    yield engine
    engine.dispose()


def test_the_schema_head_is_the_newest_migration():
    assert schema.HEAD == migrate.head()


def test_upgrade_from_empty_creates_exactly_the_tables(engine):
    assert migrate.upgrade(engine) is True
    with engine.connect() as connection:
        assert schema.current(connection) == schema.HEAD
        assert {"usage", "shared_state"} <= set(inspect(connection).get_table_names())
        # what the migrations made is what tables.py describes: nothing to autogenerate
        assert compare_metadata(MigrationContext.configure(connection), METADATA) == []


def test_upgrade_is_idempotent(engine, database):
    # `database` migrated it already (the same database as `engine`'s)
    with database.engine.begin() as connection:
        later = datetime.datetime(2030, 1, 1)
        connection.execute(insert(shared_state).values(scope="s", name="n", owner="o", value=b"x", size=1,
                                                       created_at=later, expires_at=later))
    assert migrate.upgrade(engine) is False
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM shared_state")).scalar() == 1
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_a_database_ahead_of_this_gateway_is_a_schema_error(make_database):
    database = make_database()
    database.ensure_schema()
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    newer = make_database()
    with pytest.raises(SchemaError):
        newer.ensure_schema()


def test_two_processes_migrate_at_once_under_the_lock(db_url, engine):
    """Both `db upgrade`s wait on the lock the test holds, then one migrates and one finds it done."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINGMA_")}
    env.update(LINGMA_DATABASE_URL=db_url, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "lingma_flask", "db", "upgrade"]
    with migrate.migration_lock(engine, timeout=30):
        procs = [subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
        try:
            wait_for(lambda: waiting_for_lock(engine, db_url, procs) == 2, timeout=60)
        except BaseException:
            for proc in procs:
                proc.kill()
            raise
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    said = sorted(out.split(": ", 1)[1].strip() for out, _ in outputs)
    assert said == [f"already at revision {schema.HEAD}", f"migrated to revision {schema.HEAD}"]
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [schema.HEAD]


def waiting_for_lock(engine, db_url: str, procs) -> int:
    """How many of `procs` wait for the migration lock now."""
    for proc in procs:
        if proc.poll() is not None:
            raise AssertionError(f"db upgrade ended while the lock was held: {proc.communicate()}")
    path = sqlite_path(normalize(db_url))
    if path is None:  # PostgreSQL: sessions waiting for the advisory lock
        with engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                           " AND NOT granted")).scalar()
    lock = str(path) + migrate.LOCK_SUFFIX   # SQLite: processes that opened the lock file to poll it
    return sum(any(os.path.realpath(fd) == lock for fd in open_files(proc.pid)) for proc in procs)


def open_files(pid: int) -> list[str]:
    folder = f"/proc/{pid}/fd"
    try:
        return [os.path.join(folder, name) for name in os.listdir(folder)]
    except OSError:
        return []


def test_a_workers_database_is_migrated_in_a_child_and_alembic_never_loads(tmp_path):
    """The app's database (open_database) migrates in a child process: the worker stays lean."""
    script = (
        "import sys\n"
        "from lingma_flask.store.door import open_database\n"
        "from lingma_flask.store import schema\n"
        f"db = open_database({{'WORK_DIR': {str(tmp_path)!r}}}, environ={{}})\n"
        "db.ensure_schema()\n"
        "with db.engine.connect() as c:\n"
        "    print(schema.current(c) == schema.HEAD, 'alembic' in sys.modules, 'mako' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "False"]


def test_a_failed_child_migration_is_a_schema_error_that_says_why(tmp_path):
    from lingma_flask.store.door import open_database

    db = open_database({"WORK_DIR": str(tmp_path)}, environ={})
    with db.engine.begin() as connection:   # a revision this code does not know: a newer gateway's
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('9999')"))
    with pytest.raises(SchemaError, match="could not be migrated: .*9999"):
        db.ensure_schema()
