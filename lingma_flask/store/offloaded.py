"""A sqlite3 connection whose every call into SQLite runs through `native.call` (native.py says why).

The engine (engine.py) hands SQLAlchemy this connection instead of sqlite3's when gevent has
patched the process. Only the C calls move to the native thread (connect, execute, fetch,
commit, rollback, close): SQLAlchemy, the writer and its sinks keep running in their greenlet.
A statement's rows are fetched in the same call as the statement (the store's reads are small
and bounded), so a query costs one trip to the native thread, not one per row.
"""

from __future__ import annotations

import collections
import types
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

from . import native


def connect(connect_function: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> Connection:
    """`connect_function(*args, **kwargs)` (sqlite3.connect) in the native thread, wrapped."""
    return Connection(native.call(lambda: connect_function(*args, **kwargs)))


def _through_native(value: Any) -> Any:
    """A method of sqlite3's objects made to run in the native thread; any other value as it is."""
    if not isinstance(value, types.BuiltinMethodType):
        return value
    return lambda *args, **kwargs: native.call(lambda: value(*args, **kwargs))


class Connection:
    """A sqlite3 connection: its methods run in the native thread, its cursors are `Cursor`s."""

    def __init__(self, raw: Any) -> None:
        object.__setattr__(self, "_raw", raw)

    def cursor(self) -> Cursor:
        """A new cursor (made here: making one does not reach SQLite)."""
        return Cursor(self._raw.cursor())

    def execute(self, *args: Any) -> Cursor:
        """Run one statement on a new cursor (sqlite3's shortcut)."""
        return self.cursor().execute(*args)

    def executemany(self, *args: Any) -> Cursor:
        """Run one statement for each parameter set on a new cursor."""
        return self.cursor().executemany(*args)

    def __getattr__(self, name: str) -> Any:
        # commit, rollback, close, create_function...: in the native thread; attributes as they are
        return _through_native(getattr(self._raw, name))

    def __setattr__(self, name: str, value: Any) -> None:
        # isolation_level = None commits what is under way: in the native thread too
        native.call(setattr, self._raw, name, value)


class Cursor:
    """A sqlite3 cursor: each statement runs, and its rows are fetched, in one native call."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._rows: collections.deque[Any] = collections.deque()

    def execute(self, *args: Any) -> Cursor:
        """Run a statement and fetch all its rows."""
        self._rows = native.call(self._run, self._raw.execute, args)
        return self

    def executemany(self, *args: Any) -> Cursor:
        """Run a statement once per parameter set."""
        self._rows = native.call(self._run, self._raw.executemany, args)
        return self

    def _run(self, method: Callable[..., Any], args: tuple[Any, ...]) -> collections.deque[Any]:
        method(*args)
        return collections.deque(self._raw.fetchall() if self._raw.description is not None else ())

    @property
    def description(self) -> Any:
        """The columns of the last statement's rows (None for a statement without rows)."""
        return self._raw.description

    @property
    def rowcount(self) -> int:
        """Rows the last statement changed."""
        return int(self._raw.rowcount)

    @property
    def lastrowid(self) -> Any:
        """The row id of the last row inserted."""
        return self._raw.lastrowid

    @property
    def arraysize(self) -> int:
        """How many rows `fetchmany()` returns by default."""
        return int(self._raw.arraysize)

    @arraysize.setter
    def arraysize(self, size: int) -> None:
        self._raw.arraysize = size

    def fetchone(self) -> Any:
        """The next row, or None."""
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        """The next `size` rows (`arraysize` by default)."""
        count = self._raw.arraysize if size is None else size
        return [self._rows.popleft() for _ in range(min(count, len(self._rows)))]

    def fetchall(self) -> list[Any]:
        """Every row left."""
        rows, self._rows = list(self._rows), collections.deque()
        return rows

    def __iter__(self) -> Cursor:
        return self

    def __next__(self) -> Any:
        if not self._rows:
            raise StopIteration
        return self._rows.popleft()

    def close(self) -> None:
        """Close the cursor."""
        self._rows = collections.deque()
        native.call(self._raw.close)

    def __getattr__(self, name: str) -> Any:
        # what else sqlite3's cursor has (its connection, ...): attributes as they are, calls there
        return _through_native(getattr(self._raw, name))

    def setinputsizes(self, *_args: Any) -> None:
        """Nothing to do (DB-API)."""

    def setoutputsizes(self, *_args: Any) -> None:
        """Nothing to do (DB-API)."""
