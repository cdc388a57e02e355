"""Run the real gateway — gunicorn with the gevent worker — against the simulator, in a subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
API_KEY = "test-key-123"


def children_of(pid: int) -> list[int]:
    """The pids whose parent is `pid` (from /proc/*/stat)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def chat_text(url: str, text: str) -> str:
    """Ask the gateway at `url` one non-streamed chat completion; return the answer's text."""
    import requests

    resp = requests.post(url + "/v1/chat/completions", timeout=30,
                         headers={"Authorization": f"Bearer {API_KEY}"},
                         json={"model": "auto", "messages": [{"role": "user", "content": text}]})
    assert resp.status_code == 200, resp.text
    return resp.json()["choices"][0]["message"]["content"]


class Gateway:
    """One gunicorn master + gevent worker serving the app, with its output captured."""

    def __init__(self, work_dir: Path, wsgi: str = "wsgi:app", gunicorn_args: tuple = (), **env):
        self.work_dir = work_dir
        self.wsgi = wsgi
        self.gunicorn_args = tuple(gunicorn_args)
        self.env = dict(os.environ)
        for key in [k for k in self.env if k.startswith("LINGMA_") or k == "PROMETHEUS_MULTIPROC_DIR"]:
            del self.env[key]
        self.env.update({
            "LINGMA_BIN": "simulator", "LINGMA_WORK_DIR": str(work_dir), "LINGMA_API_KEYS": API_KEY,
            "LINGMA_SSE_KEEPALIVE": "0.5", "LINGMA_MAX_CONCURRENCY": "300", "LINGMA_QUEUE_TIMEOUT": "5",
            "LINGMA_SIM_FIRST_TOKEN_DELAY": "0.05", "LINGMA_SIM_CHUNK_DELAY": "0.005",
        })
        self.env.update({k: str(v) for k, v in env.items()})
        self.lines: list[str] = []
        self.url = ""
        self.proc = None

    def start(self, timeout: float = 60.0) -> Gateway:
        """Start gunicorn on a free port and wait until /ready says ready."""
        deadline = time.monotonic() + timeout
        self.start_process(timeout)
        while not self.ready():
            self._check_alive(deadline)
            time.sleep(0.1)
        return self

    def command(self) -> tuple[list[str], Path]:
        """The command that serves the gateway on a free port, and the folder it runs in."""
        return ([str(GUNICORN), "-c", "gunicorn.conf.py", "-b", "127.0.0.1:0", *self.gunicorn_args,
                 self.wsgi], ROOT)

    def start_process(self, timeout: float = 60.0) -> Gateway:
        """Start the gateway on a free port and wait until it listens."""
        argv, cwd = self.command()
        self.proc = subprocess.Popen(argv, cwd=cwd, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self.url:
            self._check_alive(deadline)
            time.sleep(0.05)
        return self

    def _pump(self):
        try:
            for line in self.proc.stdout:
                self.lines.append(line)
                match = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", line)
                if match:
                    self.url = match.group(1)
        except (OSError, ValueError):  # the pipe was closed by stop()
            pass

    def _check_alive(self, deadline):
        if self.proc.poll() is not None:
            raise RuntimeError("gunicorn exited:\n" + "".join(self.lines[-50:]))
        if time.monotonic() > deadline:
            raise RuntimeError("gateway not ready in time:\n" + "".join(self.lines[-50:]))

    def get(self, path: str) -> tuple[int, dict]:
        """Return a GET's status and JSON."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def health(self) -> tuple[int, dict]:
        """Return the pool's detailed health (the admin view; local clients need no key)."""
        code, body = self.get("/admin/api/health")
        return (200 if body.get("ready") else 503) if code == 200 else code, body

    def ready(self) -> bool:
        """True once the pool is ready and logged in (GET /ready)."""
        try:
            return self.get("/ready")[0] == 200
        except (OSError, ValueError):
            return False

    def json_lines(self, since: int = 0) -> list[dict]:
        """The JSON objects among the output lines from line `since` on (logs are JSON lines)."""
        out = []
        for line in self.lines[since:]:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                out.append(entry)
        return out

    def request_lines(self, since: int = 0) -> list[dict]:
        """The request log lines (route, status, finish_reason, ...) from line `since` on."""
        return [entry for entry in self.json_lines(since) if "route" in entry]

    def lingma_pids(self) -> list[int]:
        """The pids of the Lingma (simulator) processes the worker spawned."""
        return [i["pid"] for i in self.health()[1]["instances"] if i.get("pid")]

    def sim_state(self, index: int = 0) -> dict:
        """The simulator's own view (asks, stops, acks) of instance `index`."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self._http_port(index)}/sim/state", timeout=5) as resp:
            return json.loads(resp.read())

    def _http_port(self, index: int) -> int:
        work_dir = Path(self.health()[1]["instances"][index]["work_dir"])
        log = (work_dir / "logs" / "lingma.log").read_text()
        return int(re.findall(r"HTTP: (\d+)", log)[-1])

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM the master (if still running), wait, and release its pipe; return its exit code."""
        if self.proc is None:
            return 0
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
                    raise
            return self.proc.returncode
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()
