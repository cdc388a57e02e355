"""Running the matrix's cells against a gateway, and checking the gateway is at rest afterwards.

A cell is one fault on one face, streamed or not. `run` asks the faulty prompt and times its
outcome; `recover` then asks an ordinary prompt on the same face and mode and times how long
after the failure (or after the fault was lifted) it succeeded. `problems` lists every broken
promise of a cell; `rest_problems` those of the gateway once its cells are done.
"""

from __future__ import annotations

import dataclasses
import os
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lingma_flask.lingma.instance import wait_until
from lingma_flask.lingma.procutil import pid_alive
from tests.integration.faultcases import Fault
from tests.integration.faultcases import fail_window
from tests.integration.faultcases import recover_limit
from tests.integration.faultcases import silence_limit
from tests.integration.faultfaces import OK
from tests.integration.faultfaces import Face
from tests.integration.faultfaces import call

SIMULATOR_MODULE = b"lingma_flask.simulator"
HARD_LIMIT = 30.0    # no request of the matrix may take longer, whatever its fault
END_LIMIT = 1.0      # seconds a stream may take to end after its terminal event


@dataclasses.dataclass
class Cell:
    """One fault × face × mode, and what happened."""

    fault: Fault
    face: Face
    stream: bool
    env: dict
    label: str
    expected: str = ""
    got: str = ""
    text: str = ""
    fail_s: float | None = None
    failed_at: float = 0.0
    trailing: float = 0.0        # seconds the response went on after its outcome
    silence: float | None = None
    recover_s: float | None = None
    recovered: str = ""

    @property
    def mode(self) -> str:
        """`stream` or `whole`."""
        return "stream" if self.stream else "whole"

    def problems(self) -> list[str]:
        """Every way this cell broke the README's promise (empty: it kept it)."""
        where = f"{self.fault.name} / {self.face.name} / {self.mode}"
        found = []
        if self.got != self.expected:
            found.append(f"{where}: expected {self.expected!r}, got {self.got!r}")
        low, high = fail_window(self.fault, self.env)
        if self.fail_s is None or not low <= self.fail_s <= high:
            found.append(f"{where}: outcome after {self.fail_s} s, outside [{low:g}, {high:g}]")
        if self.fault.expect == OK and self.got == self.expected and self.text != echo(self.label):
            found.append(f"{where}: answer {self.text!r}, expected {echo(self.label)!r}")
        if self.trailing > END_LIMIT:
            found.append(f"{where}: the stream went on {self.trailing} s after its outcome")
        if self.silence is not None and self.silence > silence_limit(self.env):
            found.append(f"{where}: {self.silence} s without a byte (keepalive"
                         f" {self.env['LINGMA_SSE_KEEPALIVE']} s)")
        limit = recover_limit(self.fault, self.env)
        if self.fault.lift == "never":
            return found
        if self.recovered != "ok" or self.recover_s is None or self.recover_s > limit:
            found.append(f"{where}: recovery {self.recovered!r} after {self.recover_s} s"
                         f" (limit {limit:g} s)")
        return found


def echo(label: str) -> str:
    """The simulator's answer to a prompt whose text (markers removed) is `label`."""
    return f"You said: {label}"


def cells_of(fault: Fault, faces, env: dict, prefix: str) -> list[Cell]:
    """The fault's cells on every face, whole and streamed."""
    cells = []
    for face in faces:
        for stream in (False, True):
            cell = Cell(fault, face, stream, env, f"{prefix} {face.name} {stream:d}")
            cell.expected = face.expected(fault.expect, stream)
            cells.append(cell)
    return cells


def run(cell: Cell, url: str) -> Cell:
    """Ask the faulty prompt; record the outcome and how long it took."""
    began = time.monotonic()
    reply = call(cell.face, url, cell.fault.prompt(cell.label), cell.stream, HARD_LIMIT)
    cell.got, cell.text = reply.outcome, reply.text
    cell.fail_s, cell.failed_at = round(reply.at - began, 2), reply.at
    cell.trailing, cell.silence = round(reply.ended - reply.at, 2), reply.silence
    return cell


def recover(cell: Cell, url: str, since: float | None = None) -> Cell:
    """Ask an ordinary prompt on the cell's face and mode; time it from the failure (or `since`)."""
    label = f"recover {cell.label}"
    reply = call(cell.face, url, label, cell.stream, HARD_LIMIT)
    good = reply.outcome == cell.face.expected(OK, cell.stream) and reply.text == echo(label)
    cell.recovered = "ok" if good else f"{reply.outcome} {reply.text!r}"
    cell.recover_s = round(reply.at - (since or cell.failed_at), 2)
    return cell


def run_and_recover(cell: Cell, url: str) -> Cell:
    """Both steps of a per-ask cell."""
    return recover(run(cell, url), url)


def in_parallel(work, cells: list[Cell]) -> list[Cell]:
    """Apply `work` to every cell at once (one thread each); return the cells."""
    with ThreadPoolExecutor(max_workers=len(cells)) as pool:
        return list(pool.map(work, cells))


# -- at rest -------------------------------------------------------------------------------------

def simulators(root: Path) -> set[int]:
    """Live simulator processes whose work dir lies under `root`."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if SIMULATOR_MODULE in argv and b"--workDir" in argv:
            work_dir = argv[argv.index(b"--workDir") + 1].decode()
            if work_dir.startswith(str(root)) and pid_alive(int(entry)):  # zombies are dead
                found.add(int(entry))
    return found


def rest_problems(gw, timeout: float = 5.0) -> list[str]:
    """Wait for the gateway to be at rest; list what is not: slots, streams, orphans."""
    def calm():
        health = gw.health()[1]
        return health.get("in_flight") == 0 and health.get("open_streams") == 0

    problems = []
    if not wait_until(calm, timeout, interval=0.1):
        health = gw.health()[1]
        problems.append(f"not at rest: in_flight {health.get('in_flight')},"
                        f" open_streams {health.get('open_streams')}")
    if not wait_until(lambda: open_stream_gauge(gw) == 0, timeout, interval=0.1):
        problems.append(f"lingma_inflight_streams is {open_stream_gauge(gw)}, not 0")
    if not wait_until(lambda: simulators(gw.work_dir) == owned(gw), timeout, interval=0.1):
        problems.append(f"simulators {sorted(simulators(gw.work_dir))}, but the instances"
                        f" name {sorted(owned(gw))}")
    return problems


def owned(gw) -> set[int]:
    """The pids of the instances' Lingma processes (health names live ones only)."""
    return {i["pid"] for i in gw.health()[1].get("instances", []) if i.get("pid")}


def open_stream_gauge(gw) -> float | None:
    """The `lingma_inflight_streams` gauge of GET /metrics."""
    with urllib.request.urlopen(gw.url + "/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("lingma_inflight_streams "):
                return float(line.split()[1])
    return None


def log_problems(gw) -> list[str]:
    """Tracebacks in the gateway's output (a client may have seen the right error anyway)."""
    text = "".join(gw.lines)
    return [f"the gateway logged a traceback:\n{text[text.index('Traceback'):][:2000]}"] \
        if "Traceback" in text else []


def stopped_problems(gw, timeout: float = 10.0) -> list[str]:
    """Stop the gateway; list the simulators that outlive it."""
    gw.stop()
    problems = log_problems(gw)
    if not wait_until(lambda: not simulators(gw.work_dir), timeout, interval=0.1):
        problems.append(f"simulators left after the gateway stopped:"
                        f" {sorted(simulators(gw.work_dir))}")
    return problems
