"""What the soak measures of the worker, from /proc and the admin API, at rest.

A reading is taken only once the worker is at rest: no chat in flight, the same open file
descriptors over several looks (client sockets the worker is still closing settle), and
gevent's DNS threadpool empty (its threads exit 5 s after their last lookup, which every
connection to Lingma makes, even to 127.0.0.1).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import urllib.request
from pathlib import Path

from _common import children_of
from _common import proc_status_kb

SIMULATOR = b"lingma_flask.simulator"


@dataclasses.dataclass
class Reading:
    """The worker at rest: memory, descriptors, threads, greenlets, Lingma children."""

    rss_kb: int
    fds: int
    fd_targets: list[str]
    threads: int
    native_threads: int
    greenlets: int
    in_flight: int
    open_streams: int
    lingmas: list[int]
    zombies: list[int]
    restarts: int
    lingma_side: dict   # the simulator's view: connections, active asks, sessions kept, acks missing


def fd_targets(pid: int) -> list[str]:
    """What each open descriptor of `pid` points at (sockets and pipes by kind only)."""
    targets = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue   # closed while listing
        targets.append(target.split(":[")[0] if ":[" in target else target)
    return sorted(targets)


def admin_health(url: str) -> dict:
    """The worker's admin health with its runtime counts (local client, no key needed)."""
    with urllib.request.urlopen(url + "/admin/api/health?runtime=1", timeout=10) as resp:
        return json.loads(resp.read())


def lingma_children(worker: int) -> tuple[list[int], list[int]]:
    """The worker's simulator children: (running, zombies)."""
    running, zombies = [], []
    for pid in children_of(worker):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            zombies.append(pid)
        elif SIMULATOR in cmdline:
            running.append(pid)
    return running, zombies


def lingma_side(gateway) -> dict:
    """What the (first) simulator holds: connections, asks still running, sessions, unacked pushes."""
    state = gateway.sim_state()
    return {"connections": state["connections"], "active_asks": state["active_asks"],
            "sessions": state["sessions"] + state.get("acp", {}).get("sessions", 0),   # ACP's session/new
            "acks_missing": state["acks"]["missing"]}


def at_rest(gateway, worker: int, timeout: float = 30.0, looks: int = 4) -> Reading:
    """Wait until nothing is in flight and the fd count holds still; return that reading."""
    deadline, seen = time.monotonic() + timeout, []
    while True:
        health = admin_health(gateway.url)
        time.sleep(0.25)   # the worker closes the health request's socket meanwhile
        seen = (seen + [len(fd_targets(worker))])[-looks:]
        steady = len(seen) == looks and len(set(seen)) == 1
        idle = (health["in_flight"] == 0 and health["open_streams"] == 0
                and not health["runtime"]["threadpool_threads"])
        if (steady and idle) or time.monotonic() > deadline:
            return reading(gateway, worker, health)


def reading(gateway, worker: int, health: dict) -> Reading:
    """Take one reading of the worker (and of its Lingma)."""
    runtime = health["runtime"]
    targets = fd_targets(worker)
    lingmas, zombies = lingma_children(worker)
    return Reading(proc_status_kb(worker, "VmRSS"), len(targets), targets, runtime["threads"],
                   runtime["native_threads"], runtime["greenlets"], health["in_flight"],
                   health["open_streams"],
                   lingmas, zombies, sum(i["restarts"] for i in health["instances"]),
                   lingma_side(gateway))
