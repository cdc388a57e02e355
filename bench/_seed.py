"""The seed design (`../shared/bench/seed_gateway.py`) as a benchmark peer, and its venv.

The seed needs FastAPI and uvicorn, which the project does not depend on: `tools_python()`
installs them, pinned, into a venv of their own under the user's cache directory
(`$LINGMA_BENCH_TOOLS` overrides it) the first time, and reuses it while the pins match.
py-spy (for `bench/profile_burst.py`) lives there too.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import ROOT

PINS = ("fastapi==0.163.2", "uvicorn==0.54.0", "websockets==17.4", "py-spy==0.4.3")
SEED_SCRIPT = ROOT.parent / "shared" / "bench" / "seed_gateway.py"

# The seed spawns `LINGMA_BIN start --workDir DIR` and waits for DIR/.info (port, pid): this
# stand-in writes the .info of a simulator that is already running, so the seed talks to the
# same fake Lingma as the gateway and spawns nothing.
_ATTACH = """#!/bin/sh
# start --workDir DIR: point the seed at the running simulator named by BENCH_SIM_PORT/PID
printf '%s\\n%s\\n' "$BENCH_SIM_PORT" "$BENCH_SIM_PID" > "$3/.info"
"""


def tools_dir() -> Path:
    """Where the benchmark tools venv lives."""
    given = os.environ.get("LINGMA_BENCH_TOOLS")
    if given:
        return Path(given)
    import platformdirs

    return Path(platformdirs.user_cache_dir("lingma-flask")) / "bench" / "seed-venv"


def tools_python() -> Path:
    """The tools venv's python, installing the pinned packages first if they are not there."""
    venv = tools_dir()
    python = venv / "bin" / "python"
    stamp = venv / "bench-pins.txt"
    wanted = "\n".join(PINS) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"installing {' '.join(PINS)} into {venv} (once)", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PINS],
                   check=True)
    stamp.write_text(wanted)
    return python


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Seed:
    """The seed gateway (uvicorn, one process) attached to a running simulator."""

    def __init__(self, sim_port: int, sim_pid: int):
        self._tmp = tempfile.TemporaryDirectory(prefix="lingma-bench-seed-")
        tmp = Path(self._tmp.name)
        attach = tmp / "lingma-attach"
        attach.write_text(_ATTACH)
        attach.chmod(0o755)
        self.port = free_port()
        env = {**os.environ, "BENCH_SIM_PORT": str(sim_port), "BENCH_SIM_PID": str(sim_pid)}
        self._log = open(tmp / "seed.log", "w")
        self.proc = subprocess.Popen([str(tools_python()), str(SEED_SCRIPT), str(self.port), str(attach),
                                      str(tmp / "work")], env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("the seed gateway exited:\n" + (tmp / "seed.log").read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/openapi.json", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the seed gateway did not start in time")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the seed process (it spawned no Lingma) and remove its files."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        self._tmp.cleanup()
