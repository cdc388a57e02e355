"""A simulator started outside the gateway (as a user's desktop Lingma would be), for attach tests.

`ExternalSim` runs `python -m lingma_flask.simulator start` with its own work dir and ports,
optionally also on a Unix socket (`--unixSocket`), and plants the `.info` files a desktop
leaves in its SharedClientCache folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from lingma_flask.lingma.endpoint import answers
from lingma_flask.lingma.procutil import free_port
from lingma_flask.lingma.procutil import pid_alive
from lingma_flask.lingma.procutil import port_open
from tests.core.simclient import poll
from tests.core.simclient import terminate

REPO = Path(__file__).resolve().parents[2]


def wait_for(condition, timeout=20.0, what="condition"):
    """Poll `condition` until it holds (return its value) or the deadline passes (AssertionError)."""
    return poll(condition, timeout, what, interval=0.05)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(10)
    return proc.pid


class ExternalSim:
    """One simulator process nobody but the test owns."""

    def __init__(self, root: Path, *, unix: Path | None = None, env: dict | None = None,
                 account: dict | None = None):
        root.mkdir(parents=True, exist_ok=True)
        self.work = root / "desktop-work"
        self.port, self.http_port = free_port(), free_port()
        self.unix = unix
        if account is not None:   # a planted login record (the simulator reads its account from it)
            (self.work / "cache").mkdir(parents=True, exist_ok=True)
            (self.work / "cache" / "id").write_text("planted-machine-id")
            (self.work / "cache" / "user").write_text(json.dumps(account))
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("LINGMA_")}
        full_env.update(env or {})
        full_env["PYTHONPATH"] = str(REPO)
        argv = [sys.executable, "-m", "lingma_flask.simulator", "start", "--workDir", str(self.work),
                "--socketPort", str(self.port), "--httpPort", str(self.http_port)]
        if unix is not None:
            argv += ["--unixSocket", str(unix)]
        self.log = root / "desktop-sim.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(argv, cwd=REPO, env=full_env, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: port_open(self.port) and (unix is None or answers(str(unix))), 20,
                 f"the external simulator ({self.log.read_text() if self.log.exists() else ''})")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        """Still running and still serving its port."""
        return self.proc.poll() is None and pid_alive(self.pid) and port_open(self.port)

    def state(self) -> dict:
        """The simulator's /sim/state (asks, connections...)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/sim/state", timeout=5) as resp:
            return json.loads(resp.read())

    def plant_info(self, folder: Path, *, as_json: bool = True, pid: int | None = None,
                   port: int | None = None) -> Path:
        """Write the `.info.json` (or text `.info`) a desktop leaves in `folder`; return its path."""
        folder.mkdir(parents=True, exist_ok=True)
        pid = self.pid if pid is None else pid
        port = self.port if port is None else port
        if as_json:
            path = folder / ".info.json"
            path.write_text(json.dumps({"websocketPort": port, "pid": pid, "ipcServerPath": "", "isDev": False}))
        else:
            path = folder / ".info"
            path.write_text(f"{port}\n{pid}\n")
        return path

    def stop(self) -> None:
        terminate(self.proc, grace=10)
