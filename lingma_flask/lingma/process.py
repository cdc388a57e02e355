"""Spawning, attaching to and stopping Lingma.

One `LingmaProcess` owns one spawned Lingma: its own work dir, free ports, its own process
group, a parent-death signal on Linux, and a stop that takes the whole group down (TERM,
wait, KILL) and reaps it. `attach_port` covers the other mode, a Lingma someone else runs,
which is used and never killed. Finding the command is discovery.py's job, the OS helpers are
in procutil.py and the work dir's files in workdir.py. Only `subprocess`, `socket` and
`time.sleep` are used, so the same code runs on threads and under gevent's monkey-patching.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from . import procutil
from .discovery import LingmaCommand
from .errors import LingmaConnectionError
from .errors import LingmaNotReadyError
from .workdir import INFO_NAMES
from .workdir import LOG_NAME
from .workdir import read_info

if TYPE_CHECKING:
    from .settings import CoreSettings

log = logging.getLogger(__name__)

_POLL = 0.05
_KILL_GRACE = 5.0              # how long SIGKILLed processes get to disappear


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
        env = procutil.child_environment(os.environ)
        if self.command.simulator:
            # -m imports from the cwd, except under PYTHONSAFEPATH; be explicit.
            path = env.get("PYTHONPATH")
            env["PYTHONPATH"] = self.command.cwd + (os.pathsep + path if path else "")
            env.setdefault("PYTHONUNBUFFERED", "1")
        env.update(self._extra_env)
        return env

    def _spawn(self) -> None:
        self._prepare_work_dir()
        socket_port, http_port = procutil.free_ports(2)
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
                    start_new_session=True, preexec_fn=None if procutil.WINDOWS else procutil.parent_death_hook(),
                    creationflags=procutil.windows_flags(),
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
            if info is not None and procutil.port_open(info[0], timeout=0.2):
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
        if pid == self.pid or not procutil.HAS_PROC or self._spawned_by_us(pid):
            return True
        self._log.warning("ignoring %s/.info: pid %d is not the Lingma we started (pid %s)",
                          self._work_dir, pid, self.pid)
        return False

    def _spawned_by_us(self, pid: int) -> bool:
        """True for a live process in our child's session, or one naming our work dir (a daemon)."""
        stat = procutil.proc_stat(pid)
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
        tail = procutil.tail(self.log_path, self._log_offset)
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
        if pid is None or pid == self.pid or not procutil.HAS_PROC:
            return None
        return pid if self._spawned_by_us(pid) else None

    def _signal_all(self, sig: int) -> None:
        extra = self._extra_pid()
        child = self._child()
        try:
            if not procutil.WINDOWS:
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
            if exited and (procutil.WINDOWS or not procutil.group_alive(child.pid)) and self._extra_pid() is None:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL)

    def _reap(self) -> None:
        try:
            self._child().wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            self._log.error("could not reap Lingma pid %s", self.pid)


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
        if not procutil.port_open(self.port, timeout=1.0):
            raise LingmaNotReadyError(_closed_message(self.port))
        return self.port

    def alive(self) -> bool:
        """Return True while the port accepts connections."""
        return procutil.port_open(self.port, timeout=1.0)

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
    if not procutil.port_open(port, timeout=1.0):
        raise LingmaNotReadyError(_closed_message(port))
    return port
