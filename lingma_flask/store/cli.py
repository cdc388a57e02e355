"""`python -m lingma_flask usage` and `python -m lingma_flask db upgrade`: the store from a shell.

Both read the settings the gateway reads (LINGMA_* and DATABASE_URL from the environment, then
the .env file of the working directory). Run them as the gateway's user: `db upgrade` may
create the SQLite file, which that user must be able to write. `usage` never creates or
migrates a database: it reads what the gateway recorded.
"""

from __future__ import annotations

import csv
import datetime
import os
import sys
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import TextIO

from ..settings_reader import SettingError
from ..settings_reader import environment
from .database import ERRORS
from .database import Database
from .door import open_database
from .url import sqlite_path
from .usage import DAILY_COLUMNS
from .usage import HISTORY_COLUMNS
from .usage import Filter
from .usage import daily
from .usage import history
from .usage import parse_since
from .writer import reason


def database_from_environment() -> Database:
    """The store the environment names; SystemExit with one line when it is off or misconfigured."""
    from dotenv import find_dotenv
    from dotenv import load_dotenv

    path = find_dotenv(usecwd=True)
    if path:  # DATABASE_URL may be in the .env file too, as the app reads it
        load_dotenv(path, override=False)
    try:
        database = open_database(environment(dotenv=False), os.environ)
    except SettingError as exc:
        raise SystemExit(f"error: {exc}") from None
    if database is None:
        raise SystemExit("error: the store is off (LINGMA_STORE=off): no usage is recorded")
    return database


def run_upgrade(out: TextIO | None = None) -> int:
    """Migrate the database to the newest schema (under the same lock the workers take)."""
    from . import migrate

    out = out or sys.stdout
    database = database_from_environment()
    try:
        changed = migrate.upgrade(database.engine)
    except Exception as exc:  # the database's errors and Alembic's (a revision this code does not know)
        print(f"error: {database.describe()}: {reason(exc)}", file=sys.stderr)
        return 1
    finally:
        database.engine.dispose()
    state = "migrated to" if changed else "already at"
    print(f"{database.describe()}: {state} revision {migrate.head()}", file=out)
    return 0


def run_usage(since: str, key: str | None, as_csv: bool, requests: bool, limit: int,
              out: TextIO | None = None) -> int:
    """Print usage since `since` per day and key (or the requests themselves), as a table or CSV."""
    out = out or sys.stdout
    try:
        where = Filter(since=parse_since(since), key=key)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    database = database_from_environment()
    path = sqlite_path(database.url)
    if path is not None and not path.exists():
        print(f"error: no usage recorded yet: {path} does not exist", file=sys.stderr)
        return 1
    try:
        with database.engine.connect() as connection:
            rows = history(connection, where, limit) if requests else daily(connection, where)
    except ERRORS as exc:
        print(f"error: {database.describe()} cannot be read ({reason(exc)}); if no gateway ran on it"
              " yet: `python -m lingma_flask db upgrade`", file=sys.stderr)
        return 1
    finally:
        database.engine.dispose()
    columns = HISTORY_COLUMNS if requests else DAILY_COLUMNS
    if as_csv:
        write_csv(rows, columns, out)
    else:
        write_table(rows, columns, out)
    return 0


def write_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    """Rows as CSV with a header line; times in ISO 8601 (UTC)."""
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row[name]) for name in columns])


def write_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    """Rows as a fixed-width table under a header line."""
    cells = [[cell(row[name]) for name in columns] for row in rows]
    if not cells:
        print("no requests recorded in this window", file=out)
        return
    widths = [max(len(name), *(len(line[n]) for line in cells)) for n, name in enumerate(columns)]
    print("  ".join(name.ljust(width) for name, width in zip(columns, widths, strict=True)), file=out)
    for line in cells:
        print("  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)), file=out)


def cell(value: Any) -> str:
    """One value as text: times ISO 8601, None empty."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)
