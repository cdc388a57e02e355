"""Worker heartbeats: each worker's instances in the store, so that every host's page lists all.

`run` is a reader of the worker's writer (in the round's transaction), in the rounds `due`
allows: when the state changed, when `every` seconds have passed since it last wrote or read,
and in the worker's last round. An idle worker's other rounds leave the database alone.

* it writes this worker's row (host, pid, index, ready, the instances' health) when its state
  changed, and at least every `every` seconds (HEARTBEAT, or the store interval if longer);
* it reads back every worker's row seen within KEEP seconds: `listing()` serves that copy, so
  the status page never waits for the database;
* in the worker's last round it deletes its own row instead.

A row not rewritten within STALE_BEATS heartbeats is a stopped, killed or hung worker's: it is
listed marked `stale` until KEEP, then no more; `retention` (a chore) deletes it later.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.engine import Connection

from . import tables
from .upsert import replace
from .upsert import upsert
from .usage import utcnow
from .worker_id import worker_id

HEARTBEAT = 5.0       # seconds: an unchanged state is rewritten this often
STALE_BEATS = 3       # heartbeats missed before a worker is marked stale
KEEP = 300.0          # seconds a stale worker is still listed
FORGET = 3600.0       # seconds after which `retention` deletes a worker's row
RETENTION_EVERY = 600.0
STATE_CHARS = 65_536  # of a row's JSON: past it the instances are left out (never seen: a few KB)

State = Callable[[], Mapping[str, Any]]   # {"ready", "index", "simulator", "instances"}


class Heartbeats:
    """This worker's heartbeat row, and every worker's rows as last read (module docstring)."""

    def __init__(self, state: State, *, host: str, interval: float = 1.0,
                 clock: Callable[[], datetime.datetime] = utcnow, stopping: Callable[[], bool] = lambda: False,
                 worker: Callable[[], str] = worker_id) -> None:
        self.state = state
        self.host = host[:tables.HOST_CHARS]
        self.every = max(HEARTBEAT, interval)
        self.stale_after = STALE_BEATS * self.every
        self.clock = clock
        self.stopping = stopping
        self.worker = worker
        self.started_at = clock()
        self._written: tuple[str, bool, Any] | None = None
        self._written_at: datetime.datetime | None = None
        self._rows: list[dict[str, Any]] = []
        self._read_at: datetime.datetime | None = None

    def run(self, connection: Connection) -> None:
        """Write this worker's heartbeat if due, then read every worker's (the writer's reader)."""
        now = self.clock()
        c = tables.workers.c
        if self.stopping():
            connection.execute(delete(tables.workers).where(c.worker == self.worker()))
            self._rows, self._read_at = [], None
            return
        beat = self._beat()
        if beat != self._written or self._aged(self._written_at, now):
            row = {"worker": self.worker(), "host": self.host, "pid": os.getpid(),
                   "worker_index": beat[2] if isinstance(beat[2], int) else None,
                   "started_at": self.started_at, "seen_at": now, "ready": beat[1], "state": beat[0]}
            upsert(connection, tables.workers, [row],
                   {name: replace for name in ("host", "pid", "worker_index", "seen_at", "ready", "state")})
            self._written, self._written_at = beat, now
        since = now - datetime.timedelta(seconds=KEEP)
        query = select(tables.workers).where(c.seen_at >= since).order_by(c.host, c.worker_index, c.pid)
        rows = connection.execute(query)
        self._rows = [dict(row._mapping) for row in rows]
        self._read_at = now

    def due(self) -> bool:
        """Whether this round needs the database: the worker stops, its state changed since it
        was written, or its row or the listing is `every` seconds old (the writer's `due`)."""
        if self.stopping():
            return True
        now = self.clock()
        if self._aged(self._written_at, now) or self._aged(self._read_at, now):
            return True
        return self._beat() != self._written

    def _beat(self) -> tuple[str, bool, Any]:
        """This worker's state as its row holds it: (the JSON, ready, index)."""
        state = dict(self.state())
        return encode(state), bool(state.get("ready")), state.get("index")

    def _aged(self, then: datetime.datetime | None, now: datetime.datetime) -> bool:
        return then is None or (now - then).total_seconds() >= self.every

    def listing(self, now: datetime.datetime | None = None) -> list[dict[str, Any]] | None:
        """Every worker but this one, as last read: host, pid, index, ready, seen (ISO), stale, and
        the state's `simulator` and `instances`. None when the last read is too old to trust (the
        database is away, or the writer does not run): the caller then shows what it knows."""
        now = now or self.clock()
        if self._read_at is None or (now - self._read_at).total_seconds() > self.stale_after:
            return None
        me = self.worker()
        found = []
        for row in self._rows:
            if row["worker"] == me:
                continue
            state = decode(row["state"])
            stale = (now - row["seen_at"]).total_seconds() > self.stale_after
            found.append({"simulator": bool(state.get("simulator")), "instances": state["instances"],
                          "ready": bool(row["ready"]) and not stale, "index": row["worker_index"],
                          "pid": row["pid"], "host": row["host"], "stale": stale,
                          "seen": row["seen_at"].isoformat(timespec="seconds") + "Z"})
        return found

    def retention(self, connection: Connection) -> None:
        """Delete the rows of workers gone for FORGET seconds (the writer's chore)."""
        old = self.clock() - datetime.timedelta(seconds=FORGET)
        connection.execute(delete(tables.workers).where(tables.workers.c.seen_at < old))


def encode(state: Mapping[str, Any]) -> str:
    """A state's JSON as stored: the simulator flag and the instances (left out if too long)."""
    given = state.get("instances")
    instances = given if isinstance(given, list) else []
    simulator = bool(state.get("simulator"))
    text = json.dumps({"simulator": simulator, "instances": instances}, default=str, sort_keys=True)
    if len(text) > STATE_CHARS:
        text = json.dumps({"simulator": simulator, "instances": [], "left_out": len(instances)})
    return text


def decode(text: str) -> dict[str, Any]:
    """A stored state; one that does not read (another version's) counts as no instances."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        value = None
    if not isinstance(value, dict):
        value = {}
    instances = value.get("instances")
    value["instances"] = [i for i in instances if isinstance(i, dict)] if isinstance(instances, list) else []
    return value
