"""The `start` sub-command: one simulated Lingma process from bind to clean (or crash) exit."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
import threading

from . import VERSION
from .config import SimConfig
from .control import ControlServer
from .framelog import FrameLog
from .login import LoginStates
from .server import WsServer
from .server import bind
from .server import bind_unix
from .state import SimState
from .workdir import WorkDir


class Sim:
    """Everything a connection needs: config, work dir, records, logs, ports."""

    def __init__(self, config: SimConfig, workdir: WorkDir, endpoint: str = ""):
        self.config = config
        self.workdir = workdir
        self.state = SimState(config.state_limit)
        self.state.endpoint = endpoint
        self.log = _file_logger(workdir)
        self.frames = FrameLog(workdir.logs / "frames.log", config.frame_log)
        self.logins = LoginStates()
        self.ws_port = 0
        self.http_port = 0
        self.unix: WsServer | None = None   # --unixSocket's listener
        self.init_mode = config.init      # LINGMA_SIM_INIT, changed at run time by /sim/init
        self.unknown_methods = frozenset(m.strip() for m in config.unknown_methods.split(",") if m.strip())

    def logged_in(self) -> bool:
        """Logged in = `cache/user` exists and the account is not in expired mode."""
        return self.workdir.logged_in() and not self.config.auth_expired

    def login(self) -> None:
        """Complete a login (the browser callback)."""
        self.workdir.login()
        self.log.info("login succeeded, model/refresh")

    def logout(self) -> None:
        """Delete the login record."""
        self.workdir.logout()
        self.log.info("logged out")

    def crash(self, why: str) -> None:
        """Exit at once with status 1, leaving `.info` behind (crash fault)."""
        self.log.error("simulated crash: %s", why)
        self.frames.close()
        logging.shutdown()
        os._exit(1)


def _file_logger(workdir: WorkDir) -> logging.Logger:
    log = logging.getLogger("lingma.sim")
    log.setLevel(logging.INFO)
    handler = logging.FileHandler(workdir.logs / "lingma.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    return log


def start(args) -> int:
    """Run the simulator until SIGTERM/SIGINT; return the exit status."""
    config = SimConfig.from_env()
    if getattr(args, "protocol", None):
        config = dataclasses.replace(config, protocol=args.protocol)
    workdir = WorkDir(args.workDir)
    workdir.prepare()
    if args.copyDataDir:
        workdir.copy_from(args.copyDataDir)
    sim = Sim(config, workdir, args.endpoint or "")
    sim.log.info("Lingma simulator %s starting, pid %d, workDir %s, protocol %s", VERSION, os.getpid(),
                 workdir.root, config.protocol)
    if config.logged_in and not workdir.logged_in():
        workdir.login()
    if not workdir.logged_in():
        sim.log.info("No cached user info, please login.")
    sockets = _bind_all(sim, args.socketPort, args.httpPort)
    if sockets is None:
        return 1
    unix = getattr(args, "unixSocket", "")
    try:
        unix_sock = bind_unix(unix) if unix else None
    except OSError as exc:
        return _busy(sim, "Unix socket", unix, exc)
    ws_sock, http_sock = sockets
    return _serve(sim, ws_sock, http_sock, unix_sock)


def _bind_all(sim: Sim, ws_port: int, http_port: int):
    try:
        ws_sock = bind(ws_port)
    except OSError as exc:
        return _busy(sim, "WebSocket", ws_port, exc)
    try:
        http_sock = bind(http_port)
    except OSError as exc:
        ws_sock.close()
        return _busy(sim, "HTTP", http_port, exc)
    sim.ws_port, sim.http_port = ws_sock.getsockname()[1], http_sock.getsockname()[1]
    return ws_sock, http_sock


def _busy(sim: Sim, what: str, port: int | str, exc: OSError):
    message = f"lingma simulator: {what} port {port} is not available: {exc}"
    sim.log.error(message)
    print(message, file=sys.stderr)
    return None


def _serve(sim: Sim, ws_sock, http_sock, unix_sock=None) -> int:
    config, stop = sim.config, threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    ws, control = WsServer(sim, ws_sock), ControlServer(sim, http_sock)
    if unix_sock is not None:   # --unixSocket: the same WebSocket, reached over AF_UNIX
        sim.unix = WsServer(sim, unix_sock)
    if config.info_early:
        _write_info(sim)
    if not stop.wait(config.start_delay):
        ws.start()
        if sim.unix is not None:
            sim.unix.start()
        control.start()
        sim.log.info("Communication servers ready - WebSocket: %d, HTTP: %d", sim.ws_port, sim.http_port)
        if not config.info_early and not stop.wait(config.info_delay):
            _write_info(sim)
    while not stop.wait(0.1):
        pass
    return _shutdown(sim, ws, control)


def _write_info(sim: Sim) -> None:
    sim.workdir.write_info(sim.ws_port, third_line=sim.config.info_third_line,
                           as_json=sim.config.info_json)
    sim.log.info("wrote %s", sim.workdir.info)


def _shutdown(sim: Sim, ws: WsServer, control: ControlServer) -> int:
    sim.log.info("signal received, shutting down")
    sim.workdir.remove_info()
    def stop_servers() -> None:
        control.stop()
        ws.stop()
        if sim.unix is not None:
            path = sim.unix.sock.getsockname()
            sim.unix.stop()
            if isinstance(path, str) and path:
                try:
                    os.unlink(path)
                except OSError:
                    pass

    worker = threading.Thread(target=stop_servers, daemon=True)
    worker.start()
    worker.join(3.0)
    sim.log.info("stopped")
    sim.frames.close()
    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)
