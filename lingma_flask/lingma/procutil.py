"""Operating-system helpers for running Lingma: ports, pids, process groups, the child's setup.

Only `socket`, `os` and /proc are used, so the same code runs on threads and under gevent's
monkey-patching.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from collections.abc import Mapping
from pathlib import Path

WINDOWS = sys.platform == "win32"
HAS_PROC = sys.platform.startswith("linux") and os.path.isdir("/proc")

_TAIL_BYTES = 4000
_TAIL_LINES = 20
_PR_SET_PDEATHSIG = 1


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """Load libc once, in the parent: the forked child must not run the loader."""
    if not sys.platform.startswith("linux"):
        return None
    for name in ("libc.so.6", None):
        try:
            return ctypes.CDLL(name, use_errno=True)
        except OSError:
            continue
    return None


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """Return `count` distinct free ports (all held open together, so no duplicates)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def port_open(port: int, timeout: float = 0.5) -> bool:
    """Return True if something accepts TCP connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """Return (state, pgrp, session) from /proc/<pid>/stat, None if the pid is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    return fields[0].decode(), int(fields[2]), int(fields[3])


def pid_alive(pid: int) -> bool:
    """Return True if `pid` runs (a zombie counts as dead: it only waits to be reaped)."""
    if HAS_PROC:
        stat = proc_stat(pid)
        return stat is not None and stat[0] not in "ZX"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_alive(pgid: int) -> bool:
    """Return True while any live (non-zombie) process remains in group `pgid`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if not HAS_PROC:
        return True
    # Orphans re-parented to an init that never reaps stay zombies in the group forever.
    with os.scandir("/proc") as entries:
        pids = [int(entry.name) for entry in entries if entry.name.isdigit()]
    for pid in pids:
        stat = proc_stat(pid)
        if stat is not None and stat[1] == pgid and stat[0] not in "ZX":
            return True
    return False


def tail(path: Path, offset: int) -> str:
    """Return the last lines written to `path` since `offset`."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(offset, size - _TAIL_BYTES))
            data = handle.read()
    except OSError:
        return ""
    lines = data.decode("utf-8", errors="replace").splitlines()[-_TAIL_LINES:]
    return "\n".join(lines).strip()


def parent_death_hook() -> Callable[[], None] | None:
    """Return a `preexec_fn` arming PR_SET_PDEATHSIG in the child (Linux), else None."""
    libc, parent = _libc(), os.getpid()
    if libc is None:
        return None

    def arm() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        # The parent may have died between fork and prctl; then nobody would signal us.
        if os.getppid() != parent:
            os._exit(1)

    return arm


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Return the environment for Lingma: ours without the gateway's own settings and secrets.

    Lingma needs none of the LINGMA_* variables (API keys, admin key, ...), which would
    otherwise be readable in its /proc/PID/environ; the simulator's LINGMA_SIM_* knobs stay.
    """
    return {name: value for name, value in environ.items()
            if not name.startswith("LINGMA_") or name.startswith("LINGMA_SIM_")}


def windows_flags() -> int:
    """Return Popen's creationflags: a new process group and no console window on Windows, else 0."""
    if sys.platform != "win32":  # spelled out (not WINDOWS) so type checkers skip the Windows-only names
        return 0
    return subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW
