"""Finding, spawning, attaching to and stopping the Lingma binary.

One `LingmaProcess` owns one spawned Lingma: its own work dir, free ports, its own process
group, a parent-death signal on Linux, and a stop that takes the whole group down (TERM,
wait, KILL) and reaps it. `attach_port` covers the other mode, a Lingma someone else runs,
which is used and never killed. Only `subprocess`, `socket` and `time.sleep` are used, so the
same code runs on threads and under gevent's monkey-patching.
"""

from __future__ import annotations

import atexit
import ctypes
import dataclasses
import functools
import json
import logging
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from .errors import LingmaConnectionError
from .errors import LingmaNotReadyError

if TYPE_CHECKING:
    from .settings import CoreSettings

log = logging.getLogger(__name__)

SIMULATOR = "simulator"
SIMULATOR_MODULE = "lingma_flask.simulator"
LOG_NAME = "lingma-stdout.log"
INFO_NAMES = (".info", ".info.json")
LOGIN_FILES = ("id", "user")   # `user` last: once it exists, the pair is complete

_POLL = 0.05
_KILL_GRACE = 5.0              # how long SIGKILLed processes get to disappear
_TAIL_BYTES = 4000
_TAIL_LINES = 20
_WINDOWS = sys.platform == "win32"
_HAS_PROC = sys.platform.startswith("linux") and os.path.isdir("/proc")
_PR_SET_PDEATHSIG = 1
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]


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


@dataclasses.dataclass(frozen=True)
class LingmaCommand:
    """How to run one Lingma: the argv before `start ...`, its cwd and where it came from."""

    argv_prefix: tuple[str, ...]
    cwd: str
    simulator: bool
    description: str

    def argv(self, work_dir: Path, socket_port: int, http_port: int) -> list[str]:
        """Return the full `start` command line for one work dir and pair of ports."""
        return [*self.argv_prefix, "start", "--workDir", str(work_dir),
                "--socketPort", str(socket_port), "--httpPort", str(http_port)]


# --------------------------------------------------------------------------- discovery

def simulator_command() -> LingmaCommand:
    """Return the command that runs the built-in simulator with this interpreter."""
    return LingmaCommand((sys.executable, "-m", SIMULATOR_MODULE), str(_PACKAGE_PARENT),
                         True, "the built-in Lingma simulator")


def platform_dir(machine: str | None = None, system: str | None = None) -> str | None:
    """Return Lingma's per-platform folder name (e.g. `x86_64_linux`), or None if unknown."""
    machine = (machine if machine is not None else platform.machine()).lower()
    system = system if system is not None else sys.platform
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(machine)
    os_name = ("linux" if system.startswith("linux") else "darwin" if system == "darwin"
               else "windows" if system in ("win32", "cygwin") else None)
    if arch is None or os_name is None:
        return None
    return f"{arch}_{os_name}"


def _binary_name() -> str:
    return "Lingma.exe" if _WINDOWS else "Lingma"


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _version_key(name: str) -> tuple[int, ...] | None:
    """Return a numeric sort key for a version folder (`2.11.1` -> (2, 11, 1)), None if not one."""
    parts = []
    for part in name.split("."):
        digits = re.match(r"\d+", part)
        if digits is None:
            break
        parts.append(int(digits.group()))
    return tuple(parts) or None


def _versioned_binary(home: Path) -> tuple[Path, str] | None:
    """Return the newest `~/.lingma/bin/<version>/<platform>/Lingma` and its version."""
    plat = platform_dir()
    root = home / ".lingma" / "bin"
    if plat is None or not root.is_dir():
        return None
    found = []
    for entry in root.iterdir():
        key = _version_key(entry.name)
        candidate = entry / plat / _binary_name()
        if key is not None and _is_executable(candidate):
            found.append((key, candidate, entry.name))
    if not found:
        return None
    _, path, version = max(found)
    return path, version


def _explicit_command(value: str) -> LingmaCommand:
    """Return the command for an explicit LINGMA_BIN path, or raise a clear error."""
    path = Path(value).expanduser()
    if not path.exists() and os.sep not in value:
        path = Path(shutil.which(value) or path)      # a bare name: look it up on PATH
    if not _is_executable(path):
        problem = "does not exist" if not path.exists() else "is not an executable file"
        raise LingmaNotReadyError(
            f"LINGMA_BIN={value!r} {problem}. Point it at the Lingma binary "
            f"(e.g. ~/.lingma/bin/<version>/{platform_dir() or '<platform>'}/{_binary_name()}) "
            f"or set it to {SIMULATOR!r}."
        )
    path = path.resolve()
    return LingmaCommand((str(path),), str(path.parent), False, f"LINGMA_BIN {path}")


def find_binary(settings: CoreSettings) -> LingmaCommand | None:
    """Find Lingma: LINGMA_BIN, else the newest ~/.lingma/bin/<version>, else PATH, else None."""
    if settings.bin:
        if settings.bin.strip().lower() == SIMULATOR:
            return simulator_command()
        return _explicit_command(settings.bin.strip())
    versioned = _versioned_binary(Path.home())
    if versioned is not None:
        path, version = versioned
        return LingmaCommand((str(path),), str(path.parent), False, f"Lingma {version} at {path}")
    on_path = shutil.which(_binary_name())
    if on_path:
        path = Path(on_path).resolve()
        return LingmaCommand((str(path),), str(path.parent), False, f"Lingma on PATH at {path}")
    return None


def resolve_command(settings: CoreSettings) -> LingmaCommand:
    """Return `find_binary`'s command, or the simulator when no Lingma is installed."""
    return find_binary(settings) or simulator_command()


# --------------------------------------------------------------------------- small helpers

def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _free_ports(count: int) -> list[int]:
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


def _valid(port: Any, pid: Any) -> tuple[int, int] | None:
    """Return (port, pid) when both read as numbers in range; they come from a file Lingma wrote."""
    try:
        port, pid = int(port), int(pid)
    except (TypeError, ValueError):
        return None
    return (port, pid) if 0 < port < 65536 and pid > 0 else None


def _read_text_info(path: Path) -> tuple[int, int] | None:
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError:
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return _valid(lines[0], lines[1]) if len(lines) >= 2 else None


def _read_json_info(path: Path) -> tuple[int, int] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or isinstance(data.get("websocketPort"), bool):
        return None
    return _valid(data.get("websocketPort"), data.get("pid"))


def read_info(work_dir: Path | str) -> tuple[int, int] | None:
    """Return (websocket port, pid) from `work_dir/.info` or `.info.json`, None if not readable yet."""
    work_dir = Path(work_dir)
    return _read_text_info(work_dir / ".info") or _read_json_info(work_dir / ".info.json")


def default_login_source() -> Path | None:
    """Return `~/.lingma/cache` (where the IDE's Lingma keeps its login) if it exists."""
    path = Path.home() / ".lingma" / "cache"
    return path if path.is_dir() else None


def _login_dir(source: Path) -> Path:
    """Accept a `cache/` folder or a whole work dir that holds one."""
    if not (source / "user").is_file() and (source / "cache" / "user").is_file():
        return source / "cache"
    return source


def seed_login(work_dir: Path | str, login_from: Path | str | None = None) -> bool:
    """Copy `id` and `user` from a logged-in cache/ into `work_dir/cache/` unless it has a user.

    `login_from` None means `default_login_source()`. Returns True when files were copied. An
    existing `cache/user` is never touched; `id` is copied with it, because the login record
    belongs to its machine id.
    """
    source = Path(login_from).expanduser() if login_from else default_login_source()
    if source is None:
        return False
    source = _login_dir(source)
    target = Path(work_dir) / "cache"
    if (target / "user").exists():
        return False
    if not all((source / name).is_file() for name in LOGIN_FILES):
        log.info("no login to seed from %s (needs cache/id and cache/user)", source)
        return False
    target.mkdir(parents=True, exist_ok=True)
    for name in LOGIN_FILES:
        partial = target / f".{name}.seeding"
        shutil.copyfile(source / name, partial)
        os.chmod(partial, 0o600)
        os.replace(partial, target / name)
    log.info("seeded Lingma login from %s into %s", source, target)
    return True


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """Return (state, pgrp, session) from /proc/<pid>/stat, None if the pid is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    return fields[0].decode(), int(fields[2]), int(fields[3])


def pid_alive(pid: int) -> bool:
    """Return True if `pid` runs (a zombie counts as dead: it only waits to be reaped)."""
    if _HAS_PROC:
        stat = _proc_stat(pid)
        return stat is not None and stat[0] not in "ZX"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_alive(pgid: int) -> bool:
    """Return True while any live (non-zombie) process remains in group `pgid`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if not _HAS_PROC:
        return True
    # Orphans re-parented to an init that never reaps stay zombies in the group forever.
    with os.scandir("/proc") as entries:
        pids = [int(entry.name) for entry in entries if entry.name.isdigit()]
    for pid in pids:
        stat = _proc_stat(pid)
        if stat is not None and stat[1] == pgid and stat[0] not in "ZX":
            return True
    return False


def _tail(path: Path, offset: int) -> str:
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


def _parent_death_hook() -> Callable[[], None] | None:
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


# --------------------------------------------------------------------------- spawned mode

_LIVE: set[LingmaProcess] = set()
_LIVE_LOCK = threading.Lock()


class LingmaProcess:
    """One spawned Lingma in its own work dir, process group and pair of free ports.

    Single use: `start()` once, `stop()` any number of times; spawn a new object to restart.
    On Linux the child gets SIGTERM when the *thread* that called `start()` exits
    (PR_SET_PDEATHSIG is per thread), so a SIGKILLed worker leaves no Lingma behind. With real
    threads, call `start()` from a thread that lives as long as the process should (the main
    thread or the instance's supervisor thread), never from a short-lived helper thread: the
    child would be killed the moment that thread ends. Under gevent every greenlet runs on the
    main thread, so any greenlet may start it.
    """

    def __init__(self, command: LingmaCommand, work_dir: Path, *, startup_timeout: float,
                 log: logging.Logger | None = None, env: Mapping[str, str] | None = None):
        self.command = command
        # Absolute: Lingma runs with the binary's folder as its cwd.
        self._work_dir = Path(work_dir).expanduser().absolute()
        self.startup_timeout = float(startup_timeout)
        self._log = log if log is not None else logging.getLogger(__name__)
        self._extra_env = dict(env or {})
        self._lock = threading.RLock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._http_port: int | None = None
        self._info_pid: int | None = None
        self._log_offset = 0
        self._stopping = False
        self._stopped = False

    def __repr__(self) -> str:
        return f"<LingmaProcess pid={self.pid} port={self._port} work_dir={str(self._work_dir)!r}>"

    @property
    def pid(self) -> int | None:
        """The pid of the spawned process (also its process group id)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def info_pid(self) -> int | None:
        """The pid Lingma wrote into `.info` (normally equal to `pid`)."""
        return self._info_pid

    @property
    def port(self) -> int | None:
        """The WebSocket port read from `.info` once started."""
        return self._port

    @property
    def http_port(self) -> int | None:
        """The `--httpPort` given to Lingma (login callback pages)."""
        return self._http_port

    @property
    def work_dir(self) -> Path:
        """This process's work dir (login cache, logs, `.info`)."""
        return self._work_dir

    @property
    def log_path(self) -> Path:
        """The file that receives the process's stdout and stderr."""
        return self._work_dir / LOG_NAME

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has exited and been reaped, else None."""
        return self._proc.poll() if self._proc is not None else None

    def alive(self) -> bool:
        """Return True while the spawned process runs and has not been stopped."""
        return self._proc is not None and not self._stopping and self._proc.poll() is None

    def start(self) -> int:
        """Spawn Lingma, wait for a fresh `.info` and its open port, and return that port.

        Raises LingmaNotReadyError (no binary run, timeout, stopped meanwhile) or
        LingmaConnectionError (the process exited during startup); nothing is left running then.
        """
        with self._lock:
            if self._stopping:
                raise LingmaNotReadyError(f"Lingma in {self._work_dir} was stopped before it started")
            if self._proc is not None:
                raise RuntimeError("a LingmaProcess starts only once; create a new one to restart")
            self._spawn()
        try:
            self._port = self._wait_ready(time.monotonic() + self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        self._log.info("Lingma ready on 127.0.0.1:%d (pid %s, %s, work dir %s)",
                       self._port, self.pid, self.command.description, self._work_dir)
        return self._port

    def _prepare_work_dir(self) -> None:
        try:
            self._work_dir.mkdir(parents=True, exist_ok=True)
            for name in INFO_NAMES:
                (self._work_dir / name).unlink(missing_ok=True)
        except OSError as exc:
            raise LingmaNotReadyError(f"cannot prepare the work dir {self._work_dir}: {exc}") from exc

    def _env(self) -> dict[str, str]:
        env = child_environment(os.environ)
        if self.command.simulator:
            # -m imports from the cwd, except under PYTHONSAFEPATH; be explicit.
            path = env.get("PYTHONPATH")
            env["PYTHONPATH"] = self.command.cwd + (os.pathsep + path if path else "")
            env.setdefault("PYTHONUNBUFFERED", "1")
        env.update(self._extra_env)
        return env

    def _spawn(self) -> None:
        self._prepare_work_dir()
        socket_port, http_port = _free_ports(2)
        self._http_port = http_port
        argv = self.command.argv(self._work_dir, socket_port, http_port)
        self._log.info("starting %s: %s", self.command.description, argv)
        with open(self.log_path, "ab") as out:
            out.write(f"\n=== lingma-flask {time.strftime('%Y-%m-%d %H:%M:%S')}: {argv}\n".encode())
            out.flush()
            self._log_offset = out.tell()
            try:
                self._proc = subprocess.Popen(
                    argv, cwd=self.command.cwd, env=self._env(), stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT, close_fds=True,
                    start_new_session=True, preexec_fn=None if _WINDOWS else _parent_death_hook(),
                    creationflags=_windows_flags(),
                )
            except OSError as exc:
                raise LingmaNotReadyError(f"could not run {self.command.description}: {exc}") from exc
        with _LIVE_LOCK:
            _LIVE.add(self)

    def _wait_ready(self, deadline: float) -> int:
        """Poll for `.info`, then for the TCP port, until `deadline`."""
        info = None
        while True:
            self._check_running()
            if info is None:
                info = self._own_info()
            if info is not None and port_open(info[0], timeout=0.2):
                return info[0]
            if time.monotonic() >= deadline:
                raise LingmaNotReadyError(self._timeout_message(info))
            time.sleep(_POLL)

    def _own_info(self) -> tuple[int, int] | None:
        """Return `.info` only when the pid in it is our child (or runs in its session)."""
        info = read_info(self._work_dir)
        if info is None or not self._is_ours(info[1]):
            return None
        self._info_pid = info[1]
        return info

    def _is_ours(self, pid: int) -> bool:
        if pid == self.pid or not _HAS_PROC or self._spawned_by_us(pid):
            return True
        self._log.warning("ignoring %s/.info: pid %d is not the Lingma we started (pid %s)",
                          self._work_dir, pid, self.pid)
        return False

    def _spawned_by_us(self, pid: int) -> bool:
        """True for a live process in our child's session, or one naming our work dir (a daemon)."""
        stat = _proc_stat(pid)
        if stat is None or stat[0] in "ZX":
            return False
        if stat[2] == self.pid:
            return True
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return os.fsencode(str(self._work_dir)) in cmdline

    def _child(self) -> subprocess.Popen[bytes]:
        """The spawned child: the steps that call this run only after `_spawn` succeeded."""
        if self._proc is None:
            raise RuntimeError("this LingmaProcess has not spawned a child")
        return self._proc

    def _check_running(self) -> None:
        if self._stopping:
            raise LingmaNotReadyError(f"Lingma in {self._work_dir} was stopped while starting")
        code = self._child().poll()
        if code is not None:
            raise LingmaConnectionError(
                f"Lingma ({self.command.description}) exited during startup with code {code}"
                + self._tail_text()
            )

    def _timeout_message(self, info: tuple[int, int] | None) -> str:
        limit = f"within {self.startup_timeout:g} s (LINGMA_STARTUP_TIMEOUT)"
        if info is None:
            what = f"Lingma ({self.command.description}) wrote no .info in {self._work_dir} {limit}"
        else:
            what = (f"Lingma wrote .info (port {info[0]}, pid {info[1]}) but nothing accepted "
                    f"connections on 127.0.0.1:{info[0]} {limit}")
        return what + self._tail_text()

    def _tail_text(self) -> str:
        tail = _tail(self.log_path, self._log_offset)
        return f". Last output ({self.log_path}):\n{tail}" if tail else f". No output in {self.log_path}."

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the whole process group (TERM, wait `timeout`, KILL) and reap it; idempotent."""
        self._stopping = True
        with self._lock:
            if self._proc is None or self._stopped:
                return
            try:
                self._signal_all(signal.SIGTERM)
                if not self._wait_gone(timeout):
                    self._log.warning("Lingma pid %s ignored SIGTERM for %.1f s; killing its group",
                                      self.pid, timeout)
                    self._signal_all(getattr(signal, "SIGKILL", signal.SIGTERM))
                    if not self._wait_gone(_KILL_GRACE):
                        self._log.error("Lingma pid %s survived SIGKILL", self.pid)
            finally:
                self._reap()
                self._stopped = True
                with _LIVE_LOCK:
                    _LIVE.discard(self)

    def _extra_pid(self) -> int | None:
        """Return the `.info` pid if it is another process that is still ours."""
        pid = self._info_pid
        if pid is None or pid == self.pid or not _HAS_PROC:
            return None
        return pid if self._spawned_by_us(pid) else None

    def _signal_all(self, sig: int) -> None:
        extra = self._extra_pid()
        child = self._child()
        try:
            if not _WINDOWS:
                os.killpg(child.pid, sig)
            elif child.poll() is None:
                child.send_signal(sig)
        except OSError:
            pass
        if extra is not None:
            try:
                os.kill(extra, sig)
            except OSError:
                pass

    def _wait_gone(self, timeout: float) -> bool:
        """Wait until the child exited and nothing of its group (or `.info` pid) lives on."""
        deadline = time.monotonic() + timeout
        child = self._child()
        while True:
            exited = child.poll() is not None
            if exited and (_WINDOWS or not _group_alive(child.pid)) and self._extra_pid() is None:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL)

    def _reap(self) -> None:
        try:
            self._child().wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            self._log.error("could not reap Lingma pid %s", self.pid)


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Return the environment for Lingma: ours without the gateway's own settings and secrets.

    Lingma needs none of the LINGMA_* variables (API keys, admin key, ...), which would
    otherwise be readable in its /proc/PID/environ; the simulator's LINGMA_SIM_* knobs stay.
    """
    return {name: value for name, value in environ.items()
            if not name.startswith("LINGMA_") or name.startswith("LINGMA_SIM_")}


def _windows_flags() -> int:
    if sys.platform != "win32":  # spelled out (not _WINDOWS) so type checkers skip the Windows-only names
        return 0
    return subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW


def stop_all(timeout: float = 3.0) -> None:
    """Stop every LingmaProcess of this interpreter (the atexit backstop)."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for proc in live:
        try:
            proc.stop(timeout)
        except Exception:     # noqa: BLE001 - a backstop must try every process
            log.exception("could not stop %r", proc)


atexit.register(stop_all)


# --------------------------------------------------------------------------- attach mode

class AttachedLingma:
    """A Lingma someone else runs on LINGMA_SOCKET_PORT: used, never spawned, never killed."""

    def __init__(self, port: int):
        self.port = port
        self.pid: int | None = None
        self.http_port: int | None = None
        self.work_dir: Path | None = None
        self.log_path: Path | None = None

    def start(self) -> int:
        """Return the port if it accepts connections, else raise LingmaNotReadyError."""
        if not port_open(self.port, timeout=1.0):
            raise LingmaNotReadyError(_closed_message(self.port))
        return self.port

    def alive(self) -> bool:
        """Return True while the port accepts connections."""
        return port_open(self.port, timeout=1.0)

    def stop(self, timeout: float = 5.0) -> None:
        """Do nothing: this process is not ours to stop."""


def _closed_message(port: int) -> str:
    return (f"LINGMA_SOCKET_PORT={port} is set but nothing accepts connections on "
            f"127.0.0.1:{port}; start Lingma there, or unset LINGMA_SOCKET_PORT to let the "
            "gateway spawn its own")


def attach_port(settings: CoreSettings) -> int | None:
    """Return LINGMA_SOCKET_PORT when set and open, None when unset; raise if set but closed."""
    port = settings.socket_port
    if port is None:
        return None
    if not port_open(port, timeout=1.0):
        raise LingmaNotReadyError(_closed_message(port))
    return port
