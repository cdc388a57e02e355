"""`LingmaInstance`: one supervised Lingma — its process, its connection and its state.

A supervisor thread owns the lifecycle: spawn (or attach), connect, `initialize`,
`auth/status` and `config/queryModels`, then watch the connection. When the socket dies,
every waiter and stream has already been failed by the connection; the supervisor then
reconnects (same process if alive, a new one if dead) with backoff from
LINGMA_RECONNECT_BACKOFF (1 s) doubling to 30 s, and gives up after a bounded number of
attempts. After it gives up, `start()` (called by the pool on the next request) begins afresh.

The supervisor thread also spawns the process: Linux's parent-death signal fires when the
spawning *thread* exits, and this thread lives exactly as long as the process should.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from . import acp
from . import attach
from . import discovery
from . import methods
from . import process
from .ask import build_ask
from .ask import new_ids
from .endpoint import Endpoint
from .errors import LingmaConnectionError
from .errors import LingmaError
from .errors import LingmaNotLoggedInError
from .errors import LingmaNotReadyError
from .errors import LingmaShutdownError
from .errors import LingmaTimeoutError
from .errors import LingmaUpstreamError
from .images import upload_images
from .login import SharedLogin
from .login import seed_login
from .models import ModelInfo
from .models import parse_models
from .rpc import RpcConnection
from .stream import ChatStream
from .stream import Deadlines

if TYPE_CHECKING:
    from .settings import CoreSettings

log = logging.getLogger(__name__)

STOPPED, STARTING, READY = "stopped", "starting", "ready"
RECONNECTING, FAILED, CLOSED = "reconnecting", "failed", "closed"
LOGGED_IN = 2
MAX_BACKOFF = 30.0
LOGIN_POLL = 2.0
MIN_WAIT = 0.25
CLIENT_INFO = {"name": "lingma-flask", "version": "0.1.0"}


class LingmaInstance:
    """One Lingma process (spawned or attached) and the connection to it, kept alive."""

    def __init__(self, name: str, settings: CoreSettings, work_dir: Path,
                 command: discovery.LingmaCommand | None = None):
        self.name = name
        self.settings = settings
        self.work_dir = Path(work_dir)
        self.command = command            # None in attach mode
        self.attached: Endpoint | None = None  # attach mode: the endpoint last connected to (attach.py)
        self.state = STOPPED
        self.last_error = ""
        self.conn: RpcConnection | None = None
        self.process: process.LingmaProcess | None = None
        self.auth: dict[str, Any] = {}
        self.models: list[ModelInfo] = []
        self.restarts = 0                 # processes started again (planned ones included)
        self.planned_restarts = 0         # of which asked for: an operator, a login sync, a logout
        self.lingma_version: str | None = None
        self.reconnects = 0               # connections lost and made again
        self.in_flight = 0                # maintained by the pool under its lock
        self.shared_login = SharedLogin(settings.login_root())
        self.logged_in_since: float | None = None
        self._seeded_at: float | None = None   # when the shared login was copied in, to restart
        self._login_stamp: bytes | None = None  # the shared login this instance took up or published
        self._auth_read_at = 0.0          # when auth/status was last read (monotonic)
        self._auth_known = False
        self._logging_out = False         # an operator's logout is under way: its loss is no surprise
        self._draining = False            # the worker is shutting down: no respawn, no reconnect
        self.first_token_ms: collections.deque[int] = collections.deque(maxlen=200)
        self.protocol: str | None = None  # "classic" | "acp", decided at each connect (acp.py)
        self._acp: acp.AcpRouter | None = None
        self.context_usage: acp.Usage | None = None  # the last {usedTokens, limitTokens} Lingma sent
        self._restart_reason: tuple[str, bool] | None = None   # (why, planned)
        self._stop = threading.Event()
        self._refresh_now = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start the supervisor thread unless it is already running."""
        with self._lock:
            if self.state == CLOSED or (self._supervisor and self._supervisor.is_alive()):
                return
            self._stop.clear()
            self.state = STARTING
            self._supervisor = threading.Thread(target=self._supervise, name=f"{self.name}-supervisor", daemon=True)
            self._supervisor.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Close the connection and stop the process; the instance stays closed."""
        self.state = CLOSED
        self._stop.set()
        self._refresh_now.set()
        conn = self.conn
        if conn is not None:
            conn.close(LingmaConnectionError("the gateway closed its connection to Lingma"))
        if self._supervisor is not None and self._supervisor is not threading.current_thread():
            self._supervisor.join(timeout)
        self._stop_process()

    def _stop_process(self) -> None:
        proc, self.process = self.process, None
        if proc is not None:
            proc.stop()

    def _set_state(self, state: str, error: str = "") -> None:
        if self.state == CLOSED:
            return
        if state != self.state:
            log.info("[%s] state %s -> %s%s", self.name, self.state, state, f" ({error})" if error else "")
        self.state = state
        if error:
            self.last_error = error

    # -- supervisor --------------------------------------------------------------------
    def _supervise(self) -> None:
        attempts, backoff = 0, self.settings.reconnect_backoff
        try:
            while not self._stop.is_set():
                if self._draining:  # the worker is going away: it stops the pool itself
                    self._stop.wait()
                    return
                try:
                    self._connect()
                except Exception as exc:  # every start failure is retried, bounded
                    attempts += 1
                    self._set_state(RECONNECTING if self.restarts or attempts > 1 else STARTING, str(exc))
                    log.warning("[%s] start attempt %d failed: %s", self.name, attempts, exc)
                    if attempts > self.settings.reconnect_attempts:
                        self._give_up()
                        return
                else:
                    attempts, backoff = 0, self.settings.reconnect_backoff
                    self._watch()
                    if self._stop.is_set():
                        return
                    self.reconnects += 1
                    lost = self.conn.close_error if self.conn is not None else None
                    self._set_state(RECONNECTING, lost.message if lost else "")
                if self._stop.wait(backoff):
                    return
                backoff = min(backoff * 2, MAX_BACKOFF)
        finally:
            if self._stop.is_set():
                self._stop_process()

    def _give_up(self) -> None:
        self._set_state(FAILED, f"gave up after {self.settings.reconnect_attempts} attempts: {self.last_error}")
        self._stop_process()

    def _connect(self) -> None:
        port = self._ensure_process()
        conn = RpcConnection(port, name=self.name, max_frame_bytes=self.settings.max_frame_bytes,
                             connect_timeout=min(self.settings.rpc_timeout, 10.0), headers=self._headers(),
                             on_close=self._connection_lost)
        conn.connect()
        try:
            info = conn.request(methods.INITIALIZE, self._initialize_params(), timeout=self.settings.rpc_timeout)
            self.lingma_version = server_version(info) or acp.agent_version(info)
            conn.notify(methods.INITIALIZED, {})
            self._choose_protocol(conn, info)
            self._refresh(conn)
        except BaseException:
            conn.close()
            raise
        if self._stop.is_set():
            conn.close()
            return
        self.conn = conn
        self._set_state(READY)
        log.info("[%s] ready on %s (logged in: %s, %d models)", self.name,
                 self.attached.describe() if self.attached else f"port {port}", self.logged_in, len(self.models))

    def _ensure_process(self) -> int | str:
        if self.command is None:  # attach mode: found afresh at each connect, never started or stopped
            self.attached = attach.resolve(self.settings)
            return self.attached.address
        if self.process is not None and self.process.alive() and self.process.port is not None:
            return self.process.port
        if self.process is not None:
            self.restarts += 1
            self._stop_process()
        self._seed_login_before_start()
        proc = process.LingmaProcess(self.command, self.work_dir, startup_timeout=self.settings.startup_timeout)
        self.process = proc
        return proc.start()

    def _connection_lost(self, conn: RpcConnection, error: LingmaError) -> None:
        """Called by the connection when its socket dies: stop routing, wake the supervisor."""
        if conn is self.conn and not self._stop.is_set():
            self._set_state(RECONNECTING, error.message)
        self._refresh_now.set()

    def _seed_login_before_start(self) -> None:
        """Give a Lingma about to start the gateway's login, so that it starts logged in.

        The shared login first; else, unless an operator logged the gateway out since,
        LINGMA_LOGIN_FROM or the IDE's (never into the simulator: no real login in a fake).
        """
        assert self.command is not None
        shared, cache = self.shared_login, self.work_dir / "cache"
        try:
            if shared.has_login():
                if shared.differs_from(cache):
                    shared.seed(cache)
                    self._seeded_at = time.time()
                self._login_stamp = shared.stamp()
            elif shared.logged_out_at() is None and not self.command.simulator:
                seed_login(self.work_dir, self.settings.login_from)
        except OSError as exc:
            log.warning("[%s] could not seed the login: %s", self.name, exc)

    def login_sync_due(self) -> bool:
        """Whether this logged-out instance should restart onto the gateway's shared login.

        Each published login is taken up once: a login Lingma refused is not retried in a loop.
        """
        if self.command is None or self.logged_in:
            return False
        shared = self.shared_login
        try:
            return (shared.has_login() and shared.stamp() != self._login_stamp
                    and shared.differs_from(self.work_dir / "cache"))
        except OSError:
            return False

    def routable(self) -> bool:
        """Ready for chats: connected, and not about to restart onto the shared login (requests
        wait for that restart, as they wait for a starting Lingma)."""
        if not self.ready:
            return False
        if self.logged_in or not self.login_sync_due():
            return True
        self._refresh_now.set()  # take the login up now, not at the next poll
        return False

    def begin_shutdown(self) -> None:
        """The worker is shutting down: a lost connection is the shutdown, not a Lingma fault.

        Called from a signal handler, so it only sets flags. On a PaaS every process gets the
        SIGTERM, Lingma included; its streams then end with the shutdown error, and nothing
        is respawned.
        """
        self._draining = True
        conn = self.conn
        if conn is not None:
            conn.lost_as = LingmaShutdownError("The gateway is shutting down", retry_after=1)

    def _headers(self) -> list[str]:
        token = self.settings.machine_token
        return [f"Cosy-MachineToken: {token}"] if token else []

    def _initialize_params(self) -> dict[str, Any]:
        uri = self.work_dir.resolve().as_uri()
        params = {"processId": os.getpid(), "clientInfo": CLIENT_INFO, "rootUri": uri, "capabilities": {},
                  "workspaceFolders": [{"uri": uri, "name": self.work_dir.name}]}
        return params if self.settings.protocol == acp.CLASSIC else acp.initialize_params(params)

    def _choose_protocol(self, conn: RpcConnection, info: object) -> None:
        """Decide classic or ACP for this connection (LINGMA_PROTOCOL, acp.detect) and say why."""
        protocol, why = acp.detect(conn, self.settings.protocol, info, cwd=str(self.work_dir),
                                   timeout=self.settings.rpc_timeout)
        log.info("[%s] protocol %s (%s)", self.name, protocol, why)
        self.protocol = protocol
        self._acp = acp.AcpRouter(conn, self._note_context) if protocol == acp.ACP else None
        acp.watch_context_usage(conn, self._note_context)

    def _note_context(self, usage: acp.Usage) -> None:
        self.context_usage = usage

    @property
    def context_limit(self) -> int | None:
        """Lingma's context window in tokens, as it last reported it (`limitTokens`), if it did."""
        usage = self.context_usage
        return usage["limitTokens"] if usage and usage["limitTokens"] > 0 else None

    def _watch(self) -> None:
        """Until the connection dies or the instance stops: probe Lingma, refresh auth and models.

        A Lingma that stays silent for `probe_interval` gets a cheap `auth/status` with a short
        timeout (at once after a first-token timeout); one that does not answer is taken out
        of routing and restarted.
        """
        conn, refreshed = self.conn, time.monotonic()
        if conn is None:  # `_connect` returned without a connection: the instance is stopping
            return
        while not self._stop.is_set() and not conn.closed.is_set():
            refresh_every = self.settings.models_refresh if self.logged_in else LOGIN_POLL
            # the shared login folder is read every LOGIN_POLL (a logout elsewhere lands in
            # seconds), and the wait ends when the login's next read is due
            woken = self._refresh_now.wait(self._next_wait())
            self._refresh_now.clear()
            if conn.closed.is_set() or self._stop.is_set():
                return
            if self._restart_reason is not None:
                reason, planned = self._restart_reason
                self._restart(conn, reason, planned=planned)
                return
            if not self._probe(conn, forced=woken):
                return
            if woken or time.monotonic() - refreshed >= refresh_every:
                refreshed = time.monotonic()
                try:
                    self._refresh(conn)
                except LingmaError as exc:
                    log.warning("[%s] refresh failed: %s", self.name, exc)
            if not self._sync_login(conn):
                return

    def _next_wait(self) -> float:
        """Seconds until the watch loop's next round: LOGIN_POLL at most, less when the login
        is due to be read sooner (never a busy loop: at least MIN_WAIT)."""
        due = self._auth_read_at + self.settings.probe_interval - time.monotonic()
        return max(MIN_WAIT, min(LOGIN_POLL, self.settings.probe_interval, due))

    def _sync_login(self, conn: RpcConnection) -> bool:
        """Keep this instance's login in step with the shared one; False when it must restart."""
        shared, cache = self.shared_login, self.work_dir / "cache"
        try:
            if self.logged_in:
                out = shared.logged_out_at()
                if out is not None and out > (self.logged_in_since or 0):
                    self._logout_here(conn)  # an operator logged out after this login
                elif not shared.has_login() and shared.publish(cache):
                    self._login_stamp = shared.stamp()  # a login newer than any logout: shared
                return True
            if self.login_sync_due():
                self._seeded_at = time.time()
                shared.seed(cache)
                self._login_stamp = shared.stamp()
                self._restart(conn, "starting with the gateway's shared login", planned=True)
                return False
        except (OSError, LingmaError) as exc:
            log.warning("[%s] login sync failed: %s", self.name, exc)
        return True

    def _logout_here(self, conn: RpcConnection) -> None:
        """Log this Lingma out; if it cannot (no `auth/logout`, an error), remove its login and
        restart it, so a logout always ends logged out."""
        log.info("[%s] logging out (an operator logged the gateway out)", self.name)
        self._logging_out = True
        try:
            conn.request(methods.AUTH_LOGOUT, {}, timeout=self.settings.rpc_timeout)
        except LingmaError as exc:
            if self.command is None:
                raise  # attached: not ours to restart, and its files are not ours
            log.warning("[%s] Lingma did not log out (%s): removing its login and restarting it",
                        self.name, exc)
            (self.work_dir / "cache" / "user").unlink(missing_ok=True)
            self._note_auth({})
            self.request_restart("logging out", planned=True)
            return
        (self.work_dir / "cache" / "user").unlink(missing_ok=True)
        self._refresh(conn)

    def request_refresh(self) -> None:
        """Ask the supervisor to re-read auth and models (and probe) now."""
        self._refresh_now.set()

    def request_restart(self, reason: str, *, planned: bool = True) -> None:
        """Ask the supervisor to restart this instance's Lingma (a new process) at once."""
        self._restart_reason = (reason, planned)
        self._refresh_now.set()

    def _restart(self, conn: RpcConnection, reason: str, *, planned: bool) -> None:
        """Drop the connection and the process; the supervisor then starts afresh.

        A planned restart (an operator's, a login sync, a logout) is no fault: it is not kept
        as the instance's last error, and it is counted apart.
        """
        self._restart_reason = None
        log.info("[%s] restarting: %s", self.name, reason)
        self._set_state(RECONNECTING, "" if planned else reason)
        conn.close(LingmaConnectionError(f"Lingma is restarting: {reason}"))
        if self.command is not None and self.process is not None:
            self.restarts += 1
            self.planned_restarts += planned
            self._stop_process()

    def _probe(self, conn: RpcConnection, forced: bool) -> bool:
        """Return whether Lingma answers; a hung one is disconnected and its process stopped.

        Every `probe_interval` the probe also reads the login (`auth/status`), so a login lost
        under a running gateway is seen within one interval.
        """
        interval = self.settings.probe_interval
        talking = not forced and conn.idle_for() < interval
        if talking and time.monotonic() - self._auth_read_at < interval:
            return True  # it spoke recently, and its login was read recently
        try:
            self._note_auth(conn.request(methods.AUTH_STATUS, {}, timeout=self.settings.probe_timeout))
            return True
        except LingmaTimeoutError:
            if talking:
                self._auth_read_at = time.monotonic()  # busy, not hung: it spoke within the interval
                return True
        except LingmaError:
            self._auth_read_at = time.monotonic()  # asked: not again before the next interval
            return not conn.closed.is_set()  # an error reply still proves it is alive
        message = (f"Lingma did not answer a health probe within {self.settings.probe_timeout:g} s"
                   " (LINGMA_PROBE_TIMEOUT)")
        log.warning("[%s] %s", self.name, message)
        self._restart(conn, message, planned=False)
        return False

    def _refresh(self, conn: RpcConnection) -> None:
        timeout = self.settings.rpc_timeout
        if self.protocol == acp.ACP:
            self._note_auth(acp.auth_status(conn, timeout))
        else:
            self._note_auth(conn.request(methods.AUTH_STATUS, {}, timeout=timeout))
        models = conn.request(methods.CONFIG_QUERY_MODELS, {}, timeout=timeout) if self.logged_in else {}
        self.models = parse_models(models)

    def _note_auth(self, auth: object) -> None:
        """Take in an `auth/status` answer; log a login that begins, ends or is lost."""
        was = self.logged_in if self._auth_known else None
        self.auth = auth if isinstance(auth, dict) else {}
        self._auth_known, self._auth_read_at = True, time.monotonic()
        # a seeded login dates from its seeding: a logout made while Lingma restarted ends it
        seeded, self._seeded_at = self._seeded_at, None
        now = self.logged_in
        if now == was:
            return
        if now:
            self.logged_in_since = seeded or time.time()
            self._logging_out = False
            log.info("[%s] logged in as %s", self.name, self.auth.get("name") or "an unnamed account")
        elif was is None:
            log.warning("[%s] Lingma is not logged in: log in at the status page, /admin/", self.name)
        elif self._logging_out:
            log.info("[%s] logged out", self.name)
        else:
            log.warning("[%s] login lost: Lingma says it is no longer logged in", self.name)
            self._forget_lost_login()

    def _forget_lost_login(self) -> None:
        """A login Lingma dropped is dead: unpublish it if it is the shared one, so the whole
        gateway reports logged out (and no instance restarts onto it)."""
        try:
            if self._login_stamp is not None and self.shared_login.stamp() == self._login_stamp:
                self.shared_login.forget()
        except OSError as exc:
            log.warning("[%s] could not unpublish the lost login: %s", self.name, exc)

    # -- queries -----------------------------------------------------------------------
    @property
    def logged_in(self) -> bool:
        """True when Lingma's `auth/status` says LOGIN."""
        try:
            return int(self.auth.get("status", 0)) == LOGGED_IN
        except (TypeError, ValueError):
            return False

    @property
    def ready(self) -> bool:
        """True when connected and initialized."""
        conn = self.conn
        return self.state == READY and conn is not None and not conn.closed.is_set()

    def refresh(self) -> None:
        """Re-read auth status and models now (synchronously)."""
        conn = self._live_conn()
        self._refresh(conn)

    def _live_conn(self) -> RpcConnection:
        conn = self.conn
        if conn is None or not self.ready:
            raise LingmaNotReadyError(self.not_ready_message(), retry_after=2)
        return conn

    def not_ready_message(self) -> str:
        """Say why this instance cannot take a chat."""
        if self.ready and not self.logged_in and self.login_sync_due():
            return f"Lingma instance {self.name} is restarting with the gateway's shared login"
        detail = f": {self.last_error}" if self.last_error else ""
        return f"Lingma instance {self.name} is {self.state}{detail}"

    def health(self) -> dict[str, Any]:
        """Return this instance's state for /health (no secrets)."""
        proc = self.process
        return {
            "name": self.name, "state": self.state, "logged_in": self.logged_in,
            "account": self.auth.get("name") or None, "in_flight": self.in_flight,
            "open_streams": self.open_streams(),
            "models": len(self.models), "restarts": self.restarts, "reconnects": self.reconnects,
            "planned_restarts": self.planned_restarts, "lingma_version": self.lingma_version,
            "protocol": self.protocol,
            "pid": proc.pid if proc is not None and proc.alive() else None,  # never a dead one
            "port": self.conn.port if self.conn and isinstance(self.conn.port, int) else None,
            "attached": self.attached.describe() if self.command is None and self.attached else None,
            "http_port": self.http_port, "work_dir": str(self.work_dir),
            "last_error": self.last_error or None, "first_token_ms": latency(self.first_token_ms),
        }

    def open_streams(self) -> int:
        """How many chats are registered on the live connection (pushes still routed to them)."""
        conn = self.conn
        return len(conn.streams) if conn is not None else 0

    # -- chat --------------------------------------------------------------------------
    def ask(self, prompt: str, model_key: str | None, *, mode: str,
            on_close: Callable[[ChatStream], None] | None = None, images: tuple[str, ...] = ()) -> ChatStream:
        """Send `chat/ask` (ACP: `session/prompt`) without waiting for a reply and return the
        stream of its answer."""
        conn = self._live_conn()
        if not self.logged_in:
            self._refresh(conn)
            if not self.logged_in:
                raise LingmaNotLoggedInError("Lingma is running but not logged in", retry_after=None)
        if self.protocol == acp.ACP:
            return self._ask_acp(conn, prompt, model_key, mode=mode, on_close=on_close, images=images)
        image_urls = upload_images(conn, images, self.settings.rpc_timeout) if images else []
        request_id, session_id = new_ids()
        stream = ChatStream(request_id, session_id, model_key, deadlines=self._deadlines(),
                            stopper=self._stopper(conn), instance_name=self.name,
                            on_close=lambda s: self._stream_closed(conn, s, on_close),
                            max_buffer=self.settings.stream_buffer_bytes)
        params = build_ask(prompt, model_key, mode=mode, request_id=request_id, session_id=session_id,
                           workspace=str(self.work_dir), auto_memory=self.settings.auto_memory,
                           image_urls=image_urls)
        try:
            conn.register(stream)
            stream.ask_rpc_id = conn.request_nowait(methods.CHAT_ASK, params, on_reply=conn.ask_reply_hook(stream))
        except BaseException:
            stream.discard()  # whatever failed, the stream leaves the registry and frees its slot
            raise
        return stream

    def _ask_acp(self, conn: RpcConnection, prompt: str, model_key: str | None, *, mode: str,
                 on_close: Callable[[ChatStream], None] | None, images: tuple[str, ...]) -> ChatStream:
        """The same chat over the ACP-style API: session/new, set_model, session/prompt (acp.py)."""
        router = self._acp
        if router is None or router.conn is not conn:
            raise LingmaNotReadyError(self.not_ready_message(), retry_after=2)

        def closed(stream: ChatStream) -> None:
            router.forget(stream)
            self._stream_closed(conn, stream, on_close)

        def make_stream(request_id: str, session_id: str) -> ChatStream:
            return ChatStream(request_id, session_id, model_key, deadlines=self._deadlines(),
                              stopper=acp.canceller(conn), instance_name=self.name, on_close=closed,
                              max_buffer=self.settings.stream_buffer_bytes)
        return acp.ask(router, prompt, model_key, mode=mode, cwd=str(self.work_dir),
                       timeout=self.settings.rpc_timeout, make_stream=make_stream, images=images)

    def _deadlines(self) -> Deadlines:
        s = self.settings
        return Deadlines(first_token=s.first_token_timeout, idle=s.idle_timeout, total=s.total_timeout)

    @staticmethod
    def _stopper(conn: RpcConnection) -> Callable[[str, str], None]:
        def stop(request_id: str, session_id: str) -> None:
            conn.request_nowait(methods.CHAT_STOP, {"requestId": request_id, "sessionId": session_id})
        return stop

    def _stream_closed(self, conn: RpcConnection, stream: ChatStream,
                       on_close: Callable[[ChatStream], None] | None) -> None:
        conn.unregister(stream.request_id)
        if stream.finish is not None and stream.finish.first_token_ms is not None:
            self.first_token_ms.append(stream.finish.first_token_ms)
        conn.forget_reply(stream.ask_rpc_id)
        forget_session(conn, stream)
        if isinstance(stream.error, LingmaNotLoggedInError):
            self._refresh_now.set()  # Lingma says logged out: let health and routing know now
        elif isinstance(stream.error, LingmaTimeoutError) and stream.error.phase == "first_token":
            self._refresh_now.set()  # silence may mean a hung Lingma: probe it now
        if on_close is not None:
            on_close(stream)

    # -- login and settings (the admin API) ---------------------------------------------
    def start_login(self) -> str:
        """Ask Lingma for a login URL (`login/generateUrl`); return it."""
        result = self._live_conn().request(methods.LOGIN_GENERATE_URL, {"loginDedicatedType": ""},
                                           timeout=self.settings.rpc_timeout)
        url = login_url_of(result)
        if not url:
            detail = result.get("errorMsg") if isinstance(result, dict) else ""
            raise LingmaUpstreamError(f"Lingma gave no login URL{': ' + detail if detail else ''}")
        return url

    def logout(self) -> None:
        """Log this instance out (`auth/logout`) and re-read its state."""
        self._logout_here(self._live_conn())

    def endpoint(self) -> str:
        """Return Lingma's cloud endpoint (`config/getEndpoint`; "" means the default)."""
        result = self._live_conn().request(methods.CONFIG_GET_ENDPOINT, {}, timeout=self.settings.rpc_timeout)
        return str(result.get("endpoint") or "") if isinstance(result, dict) else ""

    def set_endpoint(self, endpoint: str) -> None:
        """Change Lingma's cloud endpoint (`config/updateEndpoint`)."""
        self._live_conn().request(methods.CONFIG_UPDATE_ENDPOINT, {"endpoint": endpoint},
                                  timeout=self.settings.rpc_timeout)

    @property
    def http_port(self) -> int | None:
        """Lingma's local HTTP port (its login callback), when we spawned it."""
        proc = self.process
        return proc.http_port if proc is not None else None

    def drain(self, error: LingmaError) -> int:
        """End every open stream with `error`; return how many there were."""
        conn = self.conn
        if conn is None:
            return 0
        streams = list(conn.streams.values())
        for stream in streams:
            stream.push_error(error)
        return len(streams)


def forget_session(conn: RpcConnection, stream: ChatStream) -> None:
    """Delete the Lingma session of a chat that reached Lingma (`chat/deleteSessionById`).

    Every chat gets a fresh session id and carries its whole conversation in its prompt, so a
    session is never used again; Lingma would keep each one (in its `local.db`) for ever. The
    request is not awaited: it follows the chat's last message (and its `chat/stop`) on the
    same socket. Both spellings of the id are sent, as builds differ in the one they read.
    """
    if stream.ask_rpc_id is None or conn.closed.is_set():
        return  # never asked, or Lingma cannot be told any more
    finish = stream.finish
    session_id = (finish.session_id if finish is not None else None) or stream.session_id
    try:
        conn.request_nowait(methods.CHAT_DELETE_SESSION, {"sessionId": session_id, "id": session_id})
    except LingmaError as exc:
        log.debug("%s for %s not sent: %s", methods.CHAT_DELETE_SESSION, session_id, exc)


def server_version(info: object) -> str | None:
    """Return `serverInfo.version` from an `initialize` result, if it gives one."""
    server = info.get("serverInfo") if isinstance(info, dict) else None
    version = server.get("version") if isinstance(server, dict) else None
    return str(version)[:40] if isinstance(version, str | int | float) and version != "" else None


def latency(samples: Iterable[int]) -> dict[str, Any]:
    """Summarise recent first-token latencies: count, median and 95th percentile (ms)."""
    ordered = sorted(samples)
    if not ordered:
        return {"count": 0, "p50": None, "p95": None}

    def pick(q: float) -> int:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return {"count": len(ordered), "p50": pick(0.5), "p95": pick(0.95)}


def login_url_of(result: object) -> str | None:
    """Return the login URL from a `login/generateUrl` result (a dict, or a bare string)."""
    if isinstance(result, str):
        return result or None
    if not isinstance(result, dict) or result.get("success") is False:
        return None
    for key in ("loginUrl", "url", "login_url"):
        value = result.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """Poll `predicate` until it is true or `timeout` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True
