"""Insert rows, or update those whose primary key exists: one statement on SQLite and PostgreSQL.

Both dialects spell it `INSERT ... ON CONFLICT (key) DO UPDATE`; SQLAlchemy builds it per
dialect. `update` maps a column to its new value, given the column's old value and the value
the row brought (`excluded`), so counters can add up: `lambda old, new: old + new`.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection

Update = Callable[[Any, Any], Any]   # (the stored column, the excluded row's column) -> new value


def upsert(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]],
           update: Mapping[str, Update]) -> None:
    """Insert `rows` into `table`; a row whose primary key exists updates the columns of `update`.

    No two of `rows` may share a primary key (PostgreSQL refuses to update a row twice in one
    statement).
    """
    if not rows:
        return
    dialect = connection.dialect.name
    # each dialect is imported when it is used: PostgreSQL's is 2 MB in every SQLite worker
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql as chosen
    elif dialect == "sqlite":
        from sqlalchemy.dialects import sqlite as chosen  # type: ignore[no-redef]
    else:  # the store supports these two (url.py)
        raise NotImplementedError(f"upsert on {dialect}")
    statement: Any = chosen.insert(table).values(list(rows))
    keys = [column.name for column in table.primary_key.columns]
    values = {name: change(table.c[name], statement.excluded[name]) for name, change in update.items()}
    connection.execute(statement.on_conflict_do_update(index_elements=keys, set_=values))


def replace(_old: Any, new: Any) -> Any:
    """The update that takes the new row's value."""
    return new


def add(old: Any, new: Any) -> Any:
    """The update that adds the new row's value to the stored one (a counter)."""
    return old + new
