"""Usage per key: one row per API request, made from the request log's fields; and its queries.

`Recorder` is what the request log's `request_logged` hook calls (observe.py): it keeps the
fields of API requests in a `Buffer` and nothing more. The writer turns them into rows
(`row`), inserts them (`insert`) and deletes those older than LINGMA_HISTORY_DAYS
(`retention`). No prompt text is kept unless LINGMA_LOG_PROMPTS is set; then the request's
last user message, capped at PROMPT_CHARS.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import socket
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.engine import Connection

from . import tables
from .buffer import Buffer

LOCAL = "local"          # the key name of a request without an API key
PROMPT_CHARS = 2000
NOT_API = ("/admin", "/metrics", "/health", "/ready", "/openapi")   # not usage: the operator's side
HISTORY_LIMIT = 1000     # rows one history query returns at most
RETENTION_EVERY = 3600.0  # seconds between two retention passes of a worker


def utcnow() -> datetime.datetime:
    """Now, as the store keeps times: naive UTC."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


class Recorder:
    """Keep each API request's log fields for the writer (the request_logged hook's subscriber)."""

    def __init__(self, buffer: Buffer[Mapping[str, Any]], keep_prompts: bool = False) -> None:
        self.buffer = buffer
        self.keep_prompts = keep_prompts

    def __call__(self, fields: Mapping[str, Any]) -> None:
        rule = fields.get("rule")
        if rule is None or str(rule).startswith(NOT_API):
            return   # unmatched paths (scans, typos) and the operator's routes are not usage
        if not self.keep_prompts and fields.get("prompt") is not None:
            fields = {**fields, "prompt": None}   # a buffer held through an outage holds no text
        self.buffer.append(fields)


@dataclasses.dataclass(frozen=True)
class RowMaker:
    """What every row of this worker shares: its host, and whether prompts are kept."""

    host: str = dataclasses.field(default_factory=socket.gethostname)
    log_prompts: bool = False

    def row(self, fields: Mapping[str, Any], pid: int) -> dict[str, Any]:
        """The usage row of one request's log fields, answered by worker `pid`."""
        at = _time(fields.get("time"))
        prompt = fields.get("prompt") if self.log_prompts else None
        return {
            "at": at, "day": at.date(), "host": _text(self.host, tables.HOST_CHARS), "pid": pid,
            "key": _text(fields.get("key") or LOCAL, tables.KEY_CHARS),
            "route": _text(fields.get("rule") or fields.get("route") or "", tables.ROUTE_CHARS),
            "model": _text(fields.get("model"), tables.MODEL_CHARS),
            "status": _int(fields.get("status")) or 0, "stream": bool(fields.get("stream")),
            "finish_reason": _text(fields.get("finish_reason"), tables.CODE_CHARS),
            "first_token_ms": _int(fields.get("first_token_ms")),
            "total_ms": _int(fields.get("total_ms")) or 0,
            "prompt_tokens": _int(fields.get("prompt_tokens")) or 0,
            "completion_tokens": _int(fields.get("completion_tokens")) or 0,
            "tool_calls": _int(fields.get("tool_calls")),
            "error": _text(fields.get("error"), tables.CODE_CHARS),
            "request_id": _text(fields.get("id") or "", tables.REQUEST_ID_CHARS),
            "prompt": _text(prompt, PROMPT_CHARS) if isinstance(prompt, str) and prompt else None,
        }

    def insert(self, connection: Connection, batch: list[Mapping[str, Any]]) -> None:
        """Insert a batch of requests' fields as rows (the writer's sink)."""
        pid = os.getpid()  # here, not when made: the app may be built before gunicorn forks
        connection.execute(insert(tables.usage), [self.row(fields, pid) for fields in batch])


def retention(days: int) -> Callable[[Connection], None]:
    """The writer's chore that deletes usage older than `days` days and expired shared state."""
    def run(connection: Connection) -> None:
        now = utcnow()
        connection.execute(delete(tables.usage).where(tables.usage.c.at < now - datetime.timedelta(days=days)))
        connection.execute(delete(tables.shared_state).where(tables.shared_state.c.expires_at < now))
    return run


# -- queries (the admin API, the page, the command line) ----------------------------------
@dataclasses.dataclass(frozen=True)
class Filter:
    """Which usage rows a query reads: since a time, and optionally one key, route or status."""

    since: datetime.datetime
    key: str | None = None
    route: str | None = None
    status: int | None = None

    def where(self):
        """The SQL condition."""
        c = tables.usage.c
        conditions = [c.at >= self.since]
        if self.key is not None:
            conditions.append(c.key == self.key)
        if self.route is not None:
            conditions.append(c.route == self.route)
        if self.status is not None:
            conditions.append(c.status == self.status)
        return and_(*conditions)


HISTORY_COLUMNS = ("at", "host", "pid", "key", "route", "model", "status", "stream", "finish_reason",
                   "first_token_ms", "total_ms", "prompt_tokens", "completion_tokens", "tool_calls",
                   "error", "request_id")
DAILY_COLUMNS = ("day", "key", "requests", "errors", "prompt_tokens", "completion_tokens")


def history(connection: Connection, where: Filter, limit: int = 100) -> list[dict[str, Any]]:
    """The newest matching requests, newest first (at most HISTORY_LIMIT); no prompt text."""
    c = tables.usage.c
    query = (select(*(c[name] for name in HISTORY_COLUMNS)).where(where.where())
             .order_by(c.at.desc(), c.id.desc()).limit(max(1, min(limit, HISTORY_LIMIT))))
    return [dict(row._mapping) for row in connection.execute(query)]


def daily(connection: Connection, where: Filter) -> list[dict[str, Any]]:
    """Requests, errors (status >= 400) and estimated tokens per day and key, oldest day first."""
    c = tables.usage.c
    errors = func.sum(case((c.status >= 400, 1), else_=0))
    query = (select(c.day, c.key, func.count().label("requests"), errors.label("errors"),
                    func.sum(c.prompt_tokens).label("prompt_tokens"),
                    func.sum(c.completion_tokens).label("completion_tokens"))
             .where(where.where()).group_by(c.day, c.key).order_by(c.day, c.key))
    return [{name: _plain(row._mapping[name]) for name in DAILY_COLUMNS} for row in connection.execute(query)]


def keys_and_routes(connection: Connection, since: datetime.datetime) -> tuple[list[str], list[str]]:
    """The key names and routes seen since `since` (the page's filter choices)."""
    c = tables.usage.c
    keys = connection.execute(select(c.key).where(c.at >= since).distinct().order_by(c.key)).scalars()
    routes = connection.execute(select(c.route).where(c.at >= since).distinct().order_by(c.route)).scalars()
    return list(keys), list(routes)


def _plain(value: Any) -> Any:
    """SUM() is a Decimal on PostgreSQL: numbers as ints, days as dates, the rest as they are."""
    if value is None or isinstance(value, (str, datetime.date, bool)):
        return value
    return int(value)


def _time(value: Any) -> datetime.datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value)
        except ValueError:
            return utcnow()
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(datetime.UTC).replace(tzinfo=None)
        return parsed
    return utcnow()


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= limit else text[:limit]


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


SINCE_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: datetime.datetime | None = None) -> datetime.datetime:
    """Read `--since`/`?since=`: an age (`30m`, `12h`, `7d`, `2w`) or an ISO date or time (UTC unless
    it says otherwise); return it as the store keeps times (naive UTC). Raise ValueError."""
    now = now or utcnow()
    text = text.strip()
    unit = SINCE_UNITS.get(text[-1:].lower())
    try:
        if unit is not None and text[:-1].isascii() and text[:-1].isdigit() and len(text) <= 8:
            return now - datetime.timedelta(seconds=int(text[:-1]) * unit)
        moment = datetime.datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise ValueError("since must be an age like 7d, 12h, 30m, 2w or an ISO date or time,"
                         f" not {text[:40]!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return moment
