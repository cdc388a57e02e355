"""`doctor --lingma`: check the user's own Lingma, and write a redacted transcript for a bug report.

Finds Lingma as the gateway would (`--attach`/LINGMA_ATTACH, else `--bin`/LINGMA_BIN, the
newest `~/.lingma/bin`, PATH, else a running desktop as `LINGMA_ATTACH=auto` finds it),
starts it in a temporary work dir (stopped and removed after; `--work-dir` to choose one) or
attaches to it (never stopped), then on one connection the classic way (`initialize`,
`auth/status`, `config/queryModels`, a short `chat/ask`) and on a second the ACP way of the
desktop runtimes (`initialize`, `session/new`, `session/set_model`, a short `session/prompt`;
skipped when the runtime does not serve `session/new`). One row per step, timed; every frame
goes to the transcript, written redacted (redact.py) wherever `--out` says.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from typing import TextIO

from ..lingma import acp
from ..lingma import attach
from ..lingma import discovery
from ..lingma import methods
from ..lingma import process
from ..lingma.endpoint import Endpoint
from ..lingma.errors import LingmaError
from ..lingma.instance import CLIENT_INFO
from ..lingma.instance import LOGGED_IN
from ..lingma.login import seed_login
from ..lingma.models import ModelInfo
from ..lingma.models import parse_models
from ..lingma.settings import CoreSettings
from ..settings_reader import SettingError
from . import lingma_chat
from .redact import Redactor
from .report import FAIL
from .report import PASS
from .report import SKIP
from .report import Row
from .report import Widths
from .report import format_header
from .report import format_row
from .runner import one_line
from .transcript import Transcript
from .wire import RpcError
from .wire import WireClient
from .wire import WireError

API = "lingma"
CLASSIC, ACP = "classic", "acp"
STEPS = [(API, "find"), (API, "start"), (API, "attach"), (API, "stop"),
         *[(CLASSIC, m) for m in (methods.INITIALIZE, methods.AUTH_STATUS, methods.CONFIG_QUERY_MODELS,
                                  methods.CHAT_ASK)],
         *[(ACP, m) for m in (methods.INITIALIZE, methods.SESSION_NEW, methods.SESSION_SET_MODEL,
                              methods.SESSION_PROMPT)]]


@dataclasses.dataclass(frozen=True)
class Options:
    """The command line: how to find Lingma, where the transcript goes, the time per step."""

    bin: str | None = None
    attach: str | None = None
    work_dir: str | None = None
    out: str | None = None
    timeout: float = 60.0
    json: bool = False


class Skipped(Exception):
    """A step that does not apply (the runtime does not serve it, or nothing to ask with)."""


class Check:
    """One run against one Lingma: the rows so far, the transcript, and what was started."""

    def __init__(self, options: Options, settings: CoreSettings, out: TextIO) -> None:
        self.options, self.settings, self.out = options, settings, out
        self.transcript = Transcript()
        self.rows: list[Row] = []
        self.widths = Widths.of(STEPS)
        self.command: discovery.LingmaCommand | None = None
        self.endpoint: Endpoint | None = None
        self.proc: process.LingmaProcess | None = None
        self.work_dir = Path(options.work_dir).expanduser().absolute() if options.work_dir else None
        self.own_work_dir = False       # made here (temporary): removed at the end
        self.logged_in = False
        self.model: ModelInfo | None = None

    # -- rows --------------------------------------------------------------------------
    def line(self, text: str) -> None:
        """Print a line of the human report (nothing with --json)."""
        if not self.options.json:
            print(text, file=self.out, flush=True)

    def step(self, api: str, name: str, work: Callable[[], str]) -> bool:
        """Run one step in this thread, time it, print and keep its row; return whether it passed."""
        began = time.monotonic()
        try:
            status, detail = PASS, work()
        except Skipped as why:
            status, detail = SKIP, str(why)
        except LingmaError as error:
            status, detail = FAIL, error.message
        except Exception as error:  # noqa: BLE001 - every failure is a row, and the run goes on
            status, detail = FAIL, str(error) if isinstance(error, WireError) else f"{type(error).__name__}: {error}"
        row = Row(api, name, status, time.monotonic() - began, one_line(detail))
        self.rows.append(row)
        self.line(format_row(row, self.widths))
        self.transcript.event(api, f"{name}: {status} {row.detail}")
        return status == PASS

    def skip(self, api: str, names: list[str], why: str) -> None:
        """Record steps that were not run."""
        for name in names:
            self.step(api, name, lambda: _skip(why))

    # -- finding and starting ----------------------------------------------------------
    def find(self) -> str:
        """Decide: attach (asked, or no binary) or spawn (the binary discovery finds)."""
        if attach.target(self.settings) is None:
            self.command = discovery.find_binary(self.settings)
            if self.command is not None:
                self.transcript.note(f"spawned: {self.command.description}")
                return self.command.description
            self.settings = self.settings.replace(attach=attach.AUTO)   # no binary: a running desktop?
            self.transcript.note("no Lingma binary (LINGMA_BIN, ~/.lingma/bin, PATH): looking for a running desktop")
        self.endpoint = attach.resolve(self.settings)
        found = self.endpoint
        self.transcript.note(f"attached: {found.runtime or 'Lingma'} at {found.describe()} ({found.source})")
        where = f" (found in {found.source}, pid {found.pid})" if found.pid else f" ({found.source})"
        return f"{found.runtime or 'Lingma'} at {found.describe()}{where}"

    def start(self) -> str:
        """Spawn the binary in the work dir (a temporary one unless given); return where it listens."""
        assert self.command is not None
        if self.work_dir is None:
            self.work_dir = Path(tempfile.mkdtemp(prefix="lingma-doctor-"))
            self.own_work_dir = True
        if not self.command.simulator and seed_login(self.work_dir, self.settings.login_from):
            self.transcript.note("the login was copied in from LINGMA_LOGIN_FROM or ~/.lingma/cache")
        self.proc = process.LingmaProcess(self.command, self.work_dir, startup_timeout=self.options.timeout)
        port = self.proc.start()   # in this (the main) thread: the child's parent-death signal is per thread
        self.endpoint = Endpoint(port=port, source="spawned", pid=self.proc.pid)
        return f"pid {self.proc.pid} listening on 127.0.0.1:{port}, work dir {self.work_dir}"

    def attached(self) -> str:
        """Check the found endpoint answers; it is never stopped by the doctor."""
        assert self.endpoint is not None
        if not self.endpoint.answers():
            raise WireError(f"{self.endpoint.describe()} no longer accepts connections")
        return f"{self.endpoint.describe()} accepts connections; it is not ours: the doctor leaves it running"

    def stop(self) -> str:
        """Stop what the doctor started and remove its temporary work dir."""
        proc, self.proc = self.proc, None
        if proc is None:
            raise Skipped("attached: a Lingma the doctor did not start is left running")
        proc.stop()
        if self.own_work_dir and self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)   # it holds a copy of the login
        return f"stopped pid {proc.pid}" + (" and removed its temporary work dir" if self.own_work_dir else "")

    # -- the two ways ------------------------------------------------------------------
    def connect(self, channel: str) -> WireClient:
        """A recorded connection to the Lingma under test."""
        assert self.endpoint is not None
        token = self.settings.machine_token
        return WireClient(self.endpoint.address, channel=channel, transcript=self.transcript,
                          timeout=min(self.options.timeout, 10.0),
                          headers=[f"Cosy-MachineToken: {token}"] if token else None)

    def workspace(self) -> str:
        """The folder given to Lingma as the workspace (and the ACP session's cwd)."""
        return str(self.work_dir or Path(tempfile.gettempdir()))

    def initialize_params(self) -> dict[str, Any]:
        """The classic `initialize` params, as the gateway's instance sends them."""
        uri = Path(self.workspace()).resolve().as_uri()
        return {"processId": os.getpid(), "clientInfo": CLIENT_INFO, "rootUri": uri, "capabilities": {},
                "workspaceFolders": [{"uri": uri, "name": Path(self.workspace()).name}]}

    def classic(self) -> None:
        """initialize, auth/status, config/queryModels and one chat/ask on one connection."""
        names = [methods.INITIALIZE, methods.AUTH_STATUS, methods.CONFIG_QUERY_MODELS, methods.CHAT_ASK]
        try:
            client = self.connect(CLASSIC)
        except WireError as error:
            return self.skip(CLASSIC, names, f"no connection: {error}")
        try:
            if not self.step(CLASSIC, methods.INITIALIZE, lambda: self._initialize(client, self.initialize_params())):
                return self.skip(CLASSIC, names[1:], "initialize failed")
            client.notify(methods.INITIALIZED, {})
            self.step(CLASSIC, methods.AUTH_STATUS, lambda: self._auth(client))
            self.step(CLASSIC, methods.CONFIG_QUERY_MODELS, lambda: self._models(client))
            self.step(CLASSIC, methods.CHAT_ASK, lambda: self._classic_chat(client))
        finally:
            client.close()

    def acp(self) -> None:
        """initialize (ACP's fields added, as the gateway sends it), session/new, set_model, one prompt."""
        names = [methods.INITIALIZE, methods.SESSION_NEW, methods.SESSION_SET_MODEL, methods.SESSION_PROMPT]
        try:
            client = self.connect(ACP)
        except WireError as error:
            return self.skip(ACP, names, f"no connection: {error}")
        session: list[str] = []
        try:
            params = acp.initialize_params(self.initialize_params())
            if not self.step(ACP, methods.INITIALIZE, lambda: self._initialize(client, params)):
                return self.skip(ACP, names[1:], "initialize failed")
            if not self.step(ACP, methods.SESSION_NEW, lambda: self._session(client, session)):
                return self.skip(ACP, names[2:], "no ACP session")
            self.step(ACP, methods.SESSION_SET_MODEL, lambda: self._set_model(client, session[0]))
            self.step(ACP, methods.SESSION_PROMPT, lambda: self._acp_chat(client, session[0]))
        finally:
            client.close()

    def _initialize(self, client: WireClient, params: dict[str, Any]) -> str:
        info = client.request(methods.INITIALIZE, params, self.options.timeout)
        server = info.get("serverInfo") if isinstance(info, dict) else None
        agent = info.get("agentInfo") if isinstance(info, dict) else None
        named = server if isinstance(server, dict) else agent if isinstance(agent, dict) else {}
        who = f"{named.get('name') or '?'} {named.get('version') or '?'}"
        shape = acp.acp_answer(info) or "LSP-shaped answer"
        return f"{who}: {shape}"

    def _auth(self, client: WireClient) -> str:
        try:
            auth = client.request(methods.AUTH_STATUS, {}, self.options.timeout)
        except RpcError as error:
            if not lingma_chat.not_served(error):
                raise
            models = parse_models(client.request(methods.CONFIG_QUERY_MODELS, {}, self.options.timeout))
            self.logged_in = bool(models)
            if not models:
                raise WireError("auth/status is not served, and config/queryModels lists no model:"
                                " not logged in") from None
            return "auth/status is not served; config/queryModels lists models: logged in"
        auth = auth if isinstance(auth, dict) else {}
        status = auth.get("status")
        self.logged_in = status == LOGGED_IN
        if not self.logged_in:
            raise WireError(f"not logged in (status {status}): log in with the IDE plugin or the desktop"
                            " app (or at the gateway's /admin/ page), then run the doctor again")
        kind = auth.get("userType") or "an account"
        return f"logged in ({kind}, whitelist {auth.get('whitelist', '?')})"

    def _models(self, client: WireClient) -> str:
        models = parse_models(client.request(methods.CONFIG_QUERY_MODELS, {}, self.options.timeout))
        if not models:
            if not self.logged_in:
                raise Skipped("no models: not logged in")
            raise WireError("config/queryModels lists no model although logged in")
        self.model = next((m for m in models if m.is_default), models[0])
        return f"{len(models)} models; the chats ask {self.model.key}"

    def _session(self, client: WireClient, session: list[str]) -> str:
        timeout = min(self.options.timeout, acp.PROBE_TIMEOUT)
        try:
            session.append(lingma_chat.acp_session(client, self.workspace(), timeout))
        except RpcError as error:
            if lingma_chat.not_served(error):
                raise Skipped(f"not served ({error}): this runtime speaks the classic API only") from None
            raise
        except WireError as error:
            if "in time" in str(error):
                raise Skipped(f"no answer within {timeout:g}s: taken as a classic-only runtime,"
                              " as the gateway's LINGMA_PROTOCOL=auto does") from None
            raise
        return f"session {session[0]}"

    def _set_model(self, client: WireClient, session_id: str) -> str:
        key = self._model_key()
        if key is None:
            raise Skipped("no model to set")
        lingma_chat.acp_set_model(client, session_id, key, self.options.timeout)
        return f"modelId {key}"

    def _classic_chat(self, client: WireClient) -> str:
        if not self.logged_in:
            raise Skipped("not logged in")
        return lingma_chat.classic_chat(client, self._model_key(), self.workspace(), self.options.timeout).describe()

    def _acp_chat(self, client: WireClient, session_id: str) -> str:
        if not self.logged_in:
            raise Skipped("not logged in")
        return lingma_chat.acp_chat(client, session_id, self._model_key(), self.options.timeout).describe()

    def _model_key(self) -> str | None:
        return self.model.key if self.model is not None else None

    # -- the whole run -----------------------------------------------------------------
    def run(self) -> None:
        """Every step, in order; whatever happens, what was started is stopped."""
        try:
            if not self.step(API, "find", self.find):
                return
            if self.command is not None:
                if not self.step(API, "start", self.start):
                    return
            elif not self.step(API, "attach", self.attached):
                return
            self.classic()
            self.acp()
        finally:
            if self.proc is not None or self.endpoint is not None:
                self.step(API, "stop", self.stop)

    def redactor(self) -> Redactor:
        """The redactor of this run's transcript (the work dir and home folder, the machine token)."""
        secrets = [self.settings.machine_token] if self.settings.machine_token else []
        return Redactor(home=Path.home(), work_dir=self.work_dir, secrets=secrets)

    def write(self) -> Path:
        """Write the redacted transcript; return its path."""
        out = Path(self.options.out).expanduser() if self.options.out else default_out()
        results = [format_header(self.widths)] + [format_row(row, self.widths) for row in self.rows]
        return self.transcript.write(out, self.redactor(), results)


def _skip(why: str) -> str:
    raise Skipped(why)


def default_out() -> Path:
    """Where the transcript goes without --out: the temp folder, named by the time."""
    return Path(tempfile.gettempdir()) / f"lingma-doctor-{time.strftime('%Y%m%d-%H%M%S')}.txt"


def core_settings(options: Options) -> CoreSettings:
    """The gateway's core settings (LINGMA_* environment) with --bin and --attach applied."""
    settings = CoreSettings.from_env()
    if options.attach:
        settings = settings.replace(attach=options.attach, socket_port=None)
    elif options.bin:
        settings = settings.replace(bin=options.bin, attach=None, socket_port=None)
    return settings


def check_lingma(options: Options, out: TextIO) -> int:
    """Check the user's Lingma, report to `out`; 0 when no step failed, 1 when one did, 2 for bad settings."""
    try:
        settings = core_settings(options)
    except SettingError as error:
        print(f"error: {error}", file=out)
        return 2
    check = Check(options, settings, out)
    check.line(f"lingma-flask doctor --lingma (timeout {options.timeout:g}s per step)")
    check.line("")
    check.line(format_header(check.widths))
    try:
        check.run()
    finally:
        path = check.write()
    failed = sum(row.status == FAIL for row in check.rows)
    if options.json:
        print(json.dumps({"ok": not failed, "transcript": str(path),
                          "checks": [dataclasses.asdict(row) for row in check.rows]},
                         ensure_ascii=False, indent=2), file=out, flush=True)
    else:
        check.line("")
        check.line(f"{failed} of {len(check.rows)} steps failed" if failed else
                   f"no step failed ({sum(r.status == SKIP for r in check.rows)} skipped)")
        check.line(f"transcript (redacted; attach it to a bug report): {path}")
    return 1 if failed else 0
