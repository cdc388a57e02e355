"""One view of every worker for the admin API and page: this worker live, the others' files.

Each gunicorn worker runs `Publisher.tick` on a `Ticker` every PUBLISH_SECONDS (started by
ops/lifecycle.py): it carries out the restarts other workers were asked for, and writes this
worker's instances (`pool.health()`) and last requests (web/record.py) to the shared status
folder (ops/status_files.py) when they changed, and at least every HEARTBEAT_SECONDS. The
admin API merges every live worker's state, each instance and request labelled with its
worker's index and pid. An app without a worker index (`flask run`, tests) sees only itself.

With the store on, each worker also publishes its instances as a heartbeat row through the
store's writer (ops/fleet.py, store/heartbeats.py), and the API lists every worker of every
host from those rows (each labelled with its host; one not heard from for three heartbeats is
marked stale); the recent requests then come from the usage table, which every worker and host
writes. Restarts stay on one host (the status folder). While the store's rows cannot be read,
and with LINGMA_STORE=off, the view is this host's, from the status folder (SQLAlchemy is then
never loaded: the store's modules are imported where a database exists, store/door.py).
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import time
from typing import TYPE_CHECKING
from typing import Any

from flask import Flask

from ..lingma.settings import CoreSettings
from ..web.record import recent_requests
from .status_files import StatusFolder
from .status_files import live_pid
from .ticker import Ticker

if TYPE_CHECKING:
    from ..store.database import Database
    from ..store.heartbeats import Heartbeats

log = logging.getLogger(__name__)

PUBLISH_SECONDS = 1.0      # how soon a change (or a restart asked elsewhere) is seen
HEARTBEAT_SECONDS = 5.0    # an unchanged state is rewritten this often (status_files' staleness)
MAX_REQUESTS = 100
FOLDER = "lingma_status_folder"
PUBLISHER = "lingma_status_publisher"
# the store and this worker's heartbeats, set by ops/fleet.py when the store is on (not read
# through ops/usage.py, which imports ops/admin.py, which imports this module)
FLEET = "lingma_fleet"
RECENT_SINCE = datetime.timedelta(days=1)   # how far back the usage table is read for the list


def status_folder(app: Flask) -> StatusFolder | None:
    """The app's shared status folder; None without a worker index (or a test without a work dir)."""
    if FOLDER not in app.extensions:
        index = app.config.get("WORKER_INDEX")
        if index in (None, "") or (app.testing and not app.config.get("WORK_DIR")):
            app.extensions[FOLDER] = None   # never the user's real work dir from a test
        else:
            root = CoreSettings.from_mapping(app.config).work_root()
            app.extensions[FOLDER] = StatusFolder(root / "status", int(index))
    return app.extensions[FOLDER]


def own_index(app: Flask) -> int | None:
    """This worker's index (None without one)."""
    folder = status_folder(app)
    return folder.index if folder else None


def local_state(app: Flask) -> dict[str, Any]:
    """This worker's state: readiness, instances (their health) and last requests."""
    pool = app.extensions["lingma"]
    health = pool.health()
    return {"ready": bool(health.get("ready")), "simulator": bool(pool.using_simulator),
            "instances": list(health.get("instances") or []), "requests": recent_requests()}


def fleet_of(app: Flask) -> tuple[Database, Heartbeats] | None:
    """The app's store and heartbeats (None with LINGMA_STORE=off)."""
    return app.extensions.get(FLEET)


def this_host(app: Flask) -> str:
    """This host's name, as the store's rows give it."""
    fleet = fleet_of(app)
    return fleet[0].rows.host if fleet is not None else socket.gethostname()


def heartbeat_state(app: Flask) -> dict[str, Any]:
    """What this worker's heartbeat row says: readiness, index and instances (no requests)."""
    pool = app.extensions["lingma"]
    health = pool.health()
    return {"ready": bool(health.get("ready")), "simulator": bool(pool.using_simulator),
            "instances": list(health.get("instances") or []), "index": own_index(app)}


def _order(state: dict[str, Any]) -> tuple:
    index = state.get("index")
    return (bool(state.get("remote")), str(state.get("host") or ""), -1 if index is None else index,
            state.get("pid") or 0)


def host_states(app: Flask) -> list[dict[str, Any]]:
    """This worker's live state and every other live worker's of this host (the status folder),
    by index, each with index, pid and host."""
    folder = status_folder(app)
    host = this_host(app)
    own = {**local_state(app), "index": own_index(app), "pid": os.getpid(), "host": host}
    if folder is None:
        return [own]
    return sorted([own, *({**s, "host": host} for s in folder.others())], key=_order)


def worker_states(app: Flask) -> list[dict[str, Any]]:
    """Every worker's state: of every host from the store's heartbeats when it has them (`remote`
    for another host's, `stale` for one not heard from lately), else this host's (host_states)."""
    fleet = fleet_of(app)
    listed = fleet[1].listing() if fleet is not None else None
    if listed is None:
        return host_states(app)
    host = this_host(app)
    own = {**local_state(app), "index": own_index(app), "pid": os.getpid(), "host": host}
    # a worker of this host whose process is gone is left out at once, as its status file is
    others = [{**state, "requests": [], "remote": state["host"] != host} for state in listed
              if state["host"] != host or live_pid(state["pid"])]
    # a worker of this host not in the database yet (its first round after a start or a
    # migration) is shown from its status file meanwhile: no worker blinks out of the list
    seen = {state["pid"] for state in others if not state["remote"]}
    folder = status_folder(app)
    if folder is not None:
        others += [{**state, "host": host, "remote": False} for state in folder.others()
                   if state["pid"] not in seen]
    return sorted([own, *others], key=_order)


def live(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The states of the workers heard from lately (stale ones left out)."""
    return [state for state in states if not state.get("stale")]


def label(item: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """`item` with the index, pid and host of the worker it belongs to (`remote`: another host's;
    `stale`: a worker not heard from lately)."""
    return {**item, "worker": state["index"], "worker_pid": state["pid"], "host": state.get("host"),
            "remote": bool(state.get("remote")), "stale": bool(state.get("stale"))}


def all_instances(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every worker's instances, labelled by worker."""
    return [label(i, s) for s in states for i in s["instances"] if isinstance(i, dict)]


def all_requests(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last MAX_REQUESTS requests of all workers, newest first, labelled by worker."""
    merged = [label(r, s) for s in states for r in s["requests"] if isinstance(r, dict)]
    merged.sort(key=lambda r: str(r.get("time") or ""), reverse=True)  # ISO times, one zone
    return merged[:MAX_REQUESTS]


def recent(app: Flask) -> list[dict[str, Any]]:
    """The last MAX_REQUESTS API requests, newest first, labelled by worker: from the usage table
    (every worker and host) while this worker's store writer runs, else this host's workers'."""
    fleet = fleet_of(app)
    database = fleet[0] if fleet is not None else None
    if database is not None and database.writer.running:
        from ..store import usage as queries  # SQLAlchemy: only with a database

        try:
            with database.connect() as connection:
                rows = queries.history(connection, queries.Filter(since=queries.utcnow() - RECENT_SINCE),
                                       MAX_REQUESTS)
        except database.ERRORS:
            log.debug("the usage table cannot be read: this host's recent requests instead")
        else:
            index = {(s.get("host"), s["pid"]): s["index"] for s in worker_states(app)}
            host = this_host(app)
            return [stored_request(row, index, host) for row in rows]
    return all_requests(host_states(app))


def stored_request(row: dict[str, Any], index: dict[tuple[Any, Any], Any], host: str) -> dict[str, Any]:
    """A usage row as the recent requests list shows a request (web/record.py's fields)."""
    return {"id": row["request_id"], "time": row["at"].isoformat(timespec="milliseconds") + "+00:00",
            "route": row["route"], "key": row["key"], "model": row["model"], "status": row["status"],
            "error": row["error"], "finish_reason": row["finish_reason"],
            "first_token_ms": row["first_token_ms"], "total_ms": row["total_ms"],
            "worker": index.get((row["host"], row["pid"])), "worker_pid": row["pid"], "host": row["host"],
            "remote": row["host"] != host, "stale": False}


def restart(app: Flask, name: str, worker: int | None) -> dict[str, Any] | None:
    """Restart instance `name` of `worker` (None: this worker's, else the first that has one).

    Another worker's instance is restarted by that worker, on its next tick, through a request
    in the status folder. Returns who restarts it (index and pid), or None if nobody has it.
    """
    folder, own = status_folder(app), own_index(app)
    if worker is None or worker == own:
        if restart_local(app, name, "restart asked by an operator"):
            return {"restarting": name, "worker": own, "pid": os.getpid()}
    if folder is None or worker == own:
        return None
    for state in folder.others():
        if worker in (None, state["index"]) and any(
                isinstance(i, dict) and i.get("name") == name for i in state["instances"]):
            folder.ask_restart(state["index"], state["pid"], name)
            return {"restarting": name, "worker": state["index"], "pid": state["pid"]}
    return None


def restart_local(app: Flask, name: str, reason: str) -> bool:
    """Ask this worker's instance `name` to restart; False if it has none by that name."""
    for instance in getattr(app.extensions["lingma"], "instances", []):
        if instance.name == name:
            instance.request_restart(reason)
            return True
    return False


class Publisher:
    """One worker's side of the shared view: take restart requests, publish the state."""

    def __init__(self, app: Flask, folder: StatusFolder):
        self.app = app
        self.folder = folder
        self._last: dict[str, Any] | None = None
        self._written = 0.0

    def tick(self) -> None:
        """Carry out the restarts asked of this worker; write its state if it changed or is due."""
        for name in self.folder.take_restarts():
            if not restart_local(self.app, name, "restart asked by an operator (through another worker)"):
                log.info("a restart was asked for %r, which this worker does not have", name[:60])
        state = local_state(self.app)
        if state != self._last or time.monotonic() - self._written >= HEARTBEAT_SECONDS:
            self.folder.publish(state)
            self._last, self._written = state, time.monotonic()


def start_publishing(app: Flask) -> Ticker | None:
    """Publish this worker's state every PUBLISH_SECONDS (only with a worker index)."""
    folder = status_folder(app)
    if folder is None:
        return None
    ticker = Ticker(Publisher(app, folder).tick, PUBLISH_SECONDS, name="lingma-status-publish")
    app.extensions[PUBLISHER] = ticker.start()
    return ticker


def stop_publishing(app: Flask, timeout: float = 5.0) -> None:
    """Stop publishing and remove this worker's state file."""
    ticker = app.extensions.pop(PUBLISHER, None)
    if ticker is None:
        return
    ticker.stop(timeout)
    folder = status_folder(app)
    if folder is not None:
        try:
            folder.withdraw()
        except OSError as exc:
            log.warning("could not remove this worker's status file: %s", exc)
