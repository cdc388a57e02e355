"""Finding a Lingma someone else runs: the endpoints desktops and IDE plugins advertise.

A running Lingma / Qoder CN / Qoder desktop writes `.info` (text: port, pid, an optional IPC
path) or `.info.json` (`websocketPort`, `pid`, `ipcServerPath`) into its `SharedClientCache`
folder, and on macOS and Linux Qoder CN also listens on the Unix socket `qodercn.sock` there;
the IDE plugins' Lingma writes the same files under `~/.lingma` (protocol 1.5 and 1.7). The
files survive crashes, so a candidate counts only when its pid is alive and its port (or
socket) answers. Every look is noted: when nothing is found the caller can say where it
looked and why each file was passed over. Windows named pipes (the IPC path of `.info`) are
not used: the gateway speaks WebSocket.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

from . import procutil
from .endpoint import Endpoint
from .endpoint import answers
from .endpoint import tilde

APPS = (("QoderCN", "Qoder CN desktop"), ("Lingma", "Lingma desktop"), ("Qoder", "Qoder desktop"))
INFO_FILES = (".info.json", ".info")
SOCKETS = ("qodercn.sock", "lingma.sock")
CONNECT_TIMEOUT = 1.0


@dataclasses.dataclass(frozen=True)
class Location:
    """A folder where a running Lingma may advertise itself, and whose Lingma that would be."""

    folder: Path
    runtime: str


@dataclasses.dataclass(frozen=True)
class InfoFile:
    """What one `.info` / `.info.json` says: the WebSocket port, the pid, the IPC path if any."""

    port: int
    pid: int
    ipc: str = ""


@dataclasses.dataclass
class Search:
    """The outcome of `find_running`: the endpoint found (or None) and every look's note."""

    found: Endpoint | None = None
    looked: list[str] = dataclasses.field(default_factory=list)   # folders searched (`~`-relative)
    passed_over: list[str] = dataclasses.field(default_factory=list)  # "<file>: why not"

    def summary(self) -> str:
        """Say where it looked and why each candidate was passed over (for logs and /ready)."""
        where = "; ".join(self.looked) or "nowhere"
        files = ", ".join(INFO_FILES + SOCKETS)
        text = f"looked for {files} in {where}"
        if self.passed_over:
            return f"{text}; passed over: " + "; ".join(self.passed_over)
        return text + ": none there"


def config_roots(home: Path, environ: Mapping[str, str], system: str = sys.platform) -> list[Path]:
    """The per-user application-data folders the desktop apps keep `SharedClientCache` in."""
    if system == "darwin":
        return [home / "Library" / "Application Support"]
    if system in ("win32", "cygwin"):
        appdata = environ.get("APPDATA")
        return [Path(appdata) if appdata else home / "AppData" / "Roaming"]
    xdg = environ.get("XDG_CONFIG_HOME")
    return [Path(xdg) if xdg and os.path.isabs(xdg) else home / ".config"]


def locations(home: Path | None = None, environ: Mapping[str, str] | None = None,
              system: str = sys.platform) -> list[Location]:
    """Every folder to look in, the desktops' first (their runtimes serve the ACP-style API too)."""
    home = home if home is not None else Path.home()
    environ = environ if environ is not None else os.environ
    found = [Location(root / app / "SharedClientCache", runtime)
             for root in config_roots(home, environ, system) for app, runtime in APPS]
    found.append(Location(home / ".lingma", "JetBrains plugin"))
    found.append(Location(home / ".lingma" / "vscode" / "sharedClientCache", "VS Code extension"))
    return found


def read_info_file(path: Path) -> InfoFile | None:
    """Read one `.info` (text) or `.info.json`; None when missing or not what Lingma writes."""
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError:
        return None
    if path.name.endswith(".json"):
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        port, pid, ipc = data.get("websocketPort"), data.get("pid"), data.get("ipcServerPath")
    else:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if len(lines) < 2:
            return None
        port, pid, ipc = lines[0], lines[1], lines[2] if len(lines) > 2 else ""
    number = _whole(port), _whole(pid)
    if number[0] is None or number[1] is None or not (0 < number[0] < 65536 and number[1] > 0):
        return None
    return InfoFile(number[0], number[1], ipc if isinstance(ipc, str) else "")


def _whole(value: object) -> int | None:
    """A whole number written as one (an int, or digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def is_socket(path: Path) -> bool:
    """Tell whether `path` is a Unix socket (never following it anywhere else)."""
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False


def find_running(home: Path | None = None, environ: Mapping[str, str] | None = None,
                 system: str = sys.platform) -> Search:
    """Look in every location, in order, for a live endpoint; return the first and every note."""
    home = home if home is not None else Path.home()
    search = Search()
    for location in locations(home, environ, system):
        search.looked.append(tilde(location.folder, home))
        found = _look_in(location, home, search)
        if found is not None:
            search.found = found
            return search
    return search


def _look_in(location: Location, home: Path, search: Search) -> Endpoint | None:
    for name in INFO_FILES:
        path = location.folder / name
        if not path.exists():
            continue
        shown = tilde(path, home)
        info = read_info_file(path)
        if info is None:
            search.passed_over.append(f"{shown}: not a Lingma .info file")
            continue
        if not procutil.pid_alive(info.pid):
            search.passed_over.append(f"{shown}: stale, pid {info.pid} is not running")
            continue
        if answers(info.port, CONNECT_TIMEOUT):
            return Endpoint(port=info.port, source=shown, pid=info.pid, runtime=location.runtime)
        ipc = Path(info.ipc) if info.ipc and os.path.isabs(info.ipc) else None
        if ipc is not None and is_socket(ipc) and answers(str(ipc), CONNECT_TIMEOUT):
            return Endpoint(path=str(ipc), source=shown, pid=info.pid, runtime=location.runtime)
        search.passed_over.append(f"{shown}: pid {info.pid} runs but port {info.port} does not answer")
    for name in SOCKETS:
        path = location.folder / name
        if not path.exists() and not path.is_symlink():
            continue
        shown = tilde(path, home)
        if not is_socket(path):
            search.passed_over.append(f"{shown}: not a socket")
        elif answers(str(path), CONNECT_TIMEOUT):
            return Endpoint(path=str(path), source=shown, runtime=location.runtime)
        else:
            search.passed_over.append(f"{shown}: nothing accepts connections (stale)")
    return None
