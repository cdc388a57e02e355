"""Which schema revision the database is at, read without Alembic.

Alembic (and Mako under it) costs a worker about 12 MB, so a worker imports it (migrate.py)
only when the database is not at HEAD: on the first start, or after an upgrade of the gateway.
HEAD is the newest migration in `migrations/versions/` (a test keeps the two equal).
"""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy import text
from sqlalchemy.engine import Connection

HEAD = "0003"
VERSION_TABLE = "alembic_version"


def current(connection: Connection) -> str | None:
    """The revision the database is at (None: never migrated)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
