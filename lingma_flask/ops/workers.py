"""One view of every worker for the admin API and page: this worker live, the others' files.

Each gunicorn worker runs `Publisher.tick` on a `Ticker` every PUBLISH_SECONDS (started by
ops/lifecycle.py): it carries out the restarts other workers were asked for, and writes this
worker's instances (`pool.health()`) and last requests (web/record.py) to the shared status
folder (ops/status_files.py) when they changed, and at least every HEARTBEAT_SECONDS. The
admin API merges every live worker's state, each instance and request labelled with its
worker's index and pid. An app without a worker index (`flask run`, tests) sees only itself.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from flask import Flask

from ..lingma.settings import CoreSettings
from ..web.record import recent_requests
from .status_files import StatusFolder
from .ticker import Ticker

log = logging.getLogger(__name__)

PUBLISH_SECONDS = 1.0      # how soon a change (or a restart asked elsewhere) is seen
HEARTBEAT_SECONDS = 5.0    # an unchanged state is rewritten this often (status_files' staleness)
MAX_REQUESTS = 100
FOLDER = "lingma_status_folder"
PUBLISHER = "lingma_status_publisher"


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


def worker_states(app: Flask) -> list[dict[str, Any]]:
    """This worker's live state and every other live worker's, by index, each with index and pid."""
    folder = status_folder(app)
    own = {**local_state(app), "index": own_index(app), "pid": os.getpid()}
    if folder is None:
        return [own]
    return sorted([own, *folder.others()], key=lambda s: s["index"])


def label(item: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """`item` with the index and pid of the worker it belongs to."""
    return {**item, "worker": state["index"], "worker_pid": state["pid"]}


def all_instances(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every worker's instances, labelled by worker."""
    return [label(i, s) for s in states for i in s["instances"] if isinstance(i, dict)]


def all_requests(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last MAX_REQUESTS requests of all workers, newest first, labelled by worker."""
    merged = [label(r, s) for s in states for r in s["requests"] if isinstance(r, dict)]
    merged.sort(key=lambda r: str(r.get("time") or ""), reverse=True)  # ISO times, one zone
    return merged[:MAX_REQUESTS]


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
