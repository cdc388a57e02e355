"""The store's tests run against SQLite and a real PostgreSQL (the session's `postgres` server)."""

from __future__ import annotations

import pytest

from lingma_flask.store.database import Database
from lingma_flask.store.settings import StoreSettings
from lingma_flask.store.url import normalize


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """A fresh, empty database's URL: a SQLite file, or a new database on the session's server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'work' / 'lingma.db'}"
    return request.getfixturevalue("postgres").create_database()


@pytest.fixture
def make_database(db_url):
    """Build Databases on the test's database (stopped at the end of the test)."""
    made: list[Database] = []

    def make(**settings) -> Database:
        database = Database(StoreSettings(**{"url": db_url, **settings}), normalize(db_url), host="test-host")
        made.append(database)
        return database

    yield make
    for database in made:
        database.stop(timeout=5)


@pytest.fixture
def database(make_database) -> Database:
    """A Database on the test's database, migrated."""
    database = make_database()
    database.ensure_schema()
    return database
