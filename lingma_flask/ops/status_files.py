"""The workers' shared status folder, `<LINGMA_WORK_DIR>/status/`: one state file per worker.

With several gunicorn workers each owns its Lingma instances and remembers its own requests,
and a request reaches one worker at random; so every worker writes what it knows to its own
file, `w<k>.json` (replaced atomically), and any worker can read the others'. A file counts
only while its worker lives: its pid is alive and it was written within `STALE_SECONDS`
(a worker rewrites it every few seconds), so the files of dead or replaced workers are ignored.

`restart/w<k>-<random>.json` asks worker `k` to restart one of its instances: the worker that
took the operator's click writes it, the owner takes it on its next tick. Nothing here knows
Flask or the pool.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

from ..lingma import procutil

log = logging.getLogger(__name__)

STALE_SECONDS = 15.0     # a state file older than this is a dead (or hung) worker's
RESTART_TTL = 30.0       # a restart request nobody took within this is dropped
STATE_FILE = re.compile(r"^w(\d{1,6})\.json$")


def live_pid(pid: object) -> bool:
    """Tell whether `pid` (read from a shared file, so of any type) names a running process."""
    return isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 and procutil.pid_alive(pid)


def write_atomically(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` with `data` as JSON, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(data, default=str))
    os.chmod(partial, 0o600)
    os.replace(partial, path)


def read_json(path: Path) -> dict[str, Any] | None:
    """Return the JSON object in `path`; None if it is missing, unreadable or not an object."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


class StatusFolder:
    """The shared folder of one gateway, seen from worker `index` (see the module docstring)."""

    def __init__(self, folder: Path, index: int):
        self.folder = Path(folder)
        self.index = index
        self.restarts = self.folder / "restart"

    def state_path(self, index: int) -> Path:
        """The state file of worker `index`."""
        return self.folder / f"w{index}.json"

    def publish(self, state: dict[str, Any]) -> None:
        """Write this worker's state (stamped with its index, pid and the time)."""
        write_atomically(self.state_path(self.index),
                         {**state, "index": self.index, "pid": os.getpid(), "updated": time.time()})

    def withdraw(self) -> None:
        """Remove this worker's state file, if it is still this process's."""
        path = self.state_path(self.index)
        state = read_json(path)
        if state is not None and state.get("pid") == os.getpid():
            path.unlink(missing_ok=True)

    def others(self) -> list[dict[str, Any]]:
        """The states of the other live workers, by index."""
        try:
            names = sorted(p.name for p in self.folder.iterdir())
        except OSError:
            return []
        found = []
        for name in names:
            match = STATE_FILE.match(name)
            if match is None or int(match.group(1)) == self.index:
                continue
            state = read_json(self.folder / name)
            if state is not None and is_live(state, int(match.group(1))):
                found.append(state)
        return sorted(found, key=lambda s: s["index"])

    def ask_restart(self, index: int, pid: int, name: str) -> None:
        """Ask worker `index` (pid `pid`) to restart its instance `name`."""
        request = {"index": index, "pid": pid, "instance": name, "asked": time.time(),
                   "by": self.index}
        write_atomically(self.restarts / f"w{index}-{secrets.token_hex(6)}.json", request)

    def take_restarts(self) -> list[str]:
        """Take (remove) the restart requests addressed to this worker; return the instance names.

        A request for an earlier process under this index, or older than RESTART_TTL, is
        dropped: the operator clicked an instance that no longer exists.
        """
        try:
            paths = sorted(self.restarts.glob(f"w{self.index}-*.json"))
        except OSError:
            return []
        names = []
        for path in paths:
            request = read_json(path)
            path.unlink(missing_ok=True)
            if request is None or request.get("pid") != os.getpid():
                continue
            asked = request.get("asked")
            if not isinstance(asked, (int, float)) or time.time() - asked > RESTART_TTL:
                log.info("dropped a restart request older than %g s", RESTART_TTL)
                continue
            if isinstance(request.get("instance"), str):
                names.append(request["instance"])
        return names


def is_live(state: dict[str, Any], index: int) -> bool:
    """Tell whether a state file is a living worker's: its own index, pid alive, fresh."""
    updated = state.get("updated")
    return (state.get("index") == index and live_pid(state.get("pid"))
            and isinstance(updated, (int, float)) and time.time() - updated <= STALE_SECONDS
            and isinstance(state.get("instances"), list) and isinstance(state.get("requests"), list))
