"""ACP-style Lingma (protocol doc 3.17): the API of the Qoder CN and newer Lingma desktop runtimes.

It ends in the same `ChatStream` as classic `chat/ask`, so every face, tools, reasoning, stop
rules and the fault handling work unchanged. One chat is:

    session/new {cwd: the instance's work dir, mcpServers: [], _meta: {}}   ← {sessionId}   awaited
    session/set_model {sessionId, modelId: the model key}                    (with a model) awaited
    session/prompt {sessionId, prompt: [text, images], _meta: {request id, mode}}   not awaited
    ⇐ session/update, routed by `_meta["ai-coding/request-id"]` (by sessionId when that is missing):
      agent_message_chunk → text, agent_thought_chunk → reasoning, notification chat_finish →
      the finish, notification context_usage → {usedTokens, limitTokens} on the stream and the
      instance (the instance's last `limitTokens` is `LingmaInstance.context_limit`)
    session/cancel {sessionId}        where classic sends chat/stop (client gone, timeouts)
    chat/deleteSessionById            when the stream closes, as classic does

The setup calls wait at most LINGMA_RPC_TIMEOUT (15 s, the doc's setup timeout). A reply to
`session/prompt`, if one comes, is read like classic's `chat/ask` reply: an error fails the
stream; a result (`{stopReason}`) is not the end of the chat, `chat_finish` is.

**A new session per chat, never reused.** The gateway sends the whole conversation in every
prompt (API clients resend their history each time, and may edit or cut it), so a session's
own history would duplicate or contradict it; a fresh session per chat keeps the prompt the
only context, lets concurrent chats on one connection never share a session, and lets
`session/cancel` and `chat/deleteSessionById` concern exactly one chat. It costs one or two
loopback round trips per chat. (lingma-proxy's default "fresh" mode does the same.)

**Which protocol** (`LINGMA_PROTOCOL`, `detect`): `classic` and `acp` are taken as said. `auto`
sends one `initialize` that both generations read (the classic params plus ACP's
`protocolVersion` and `clientCapabilities`: Go and LSP4J decoders ignore fields they do not
know) and decides from its answer: `protocolVersion` or `agentCapabilities` mean ACP. When the
answer is LSP-shaped (a classic Lingma, but also a Qoder CN that answers `serverInfo`), a probe
`session/new` decides: method not found (or no answer within `PROBE_TIMEOUT`) means classic;
anything else means the method is served, so ACP (the probe's session is deleted).

**Login and models.** The desktop serves `config/queryModels` (lingma-proxy reads its models
through it). Whether it serves `auth/status` is not documented: when it answers "method not
found", the login is read from the model list instead (`{}` when logged out, protocol 3.4).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

from . import methods
from .errors import LingmaError
from .errors import LingmaRpcError
from .errors import LingmaTimeoutError
from .errors import LingmaUpstreamError
from .models import parse_models

if TYPE_CHECKING:
    from .rpc import RpcConnection
    from .stream import ChatStream

log = logging.getLogger(__name__)

CLASSIC, ACP = "classic", "acp"
META_REQUEST_ID = "ai-coding/request-id"
META_MODE = "ai-coding/mode"
META_MODEL = "ai-coding/model"
METHOD_NOT_FOUND = -32601
PROBE_TIMEOUT = 5.0   # at most this long for the detection probe (a silent classic Lingma costs it)
_NOT_SERVED = re.compile(r"not found|unknown method|not supported|unsupported|unimplemented", re.I)
_DATA_URI = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)", re.S)

# A chat_finish without a statusCode: its reason, read for the classic status it stands for
# (then mapped by errors.finish_error exactly as a classic chat/finish is). No error word: 200.
_REASON_STATUS = (
    (re.compile(r"not logged in|log ?in|unauthori[sz]ed|\bauth", re.I), 401),
    (re.compile(r"rate.?limit|too many", re.I), 429),
    (re.compile(r"quota|exhausted|insufficient|额度|配额|用尽", re.I), 403),
    (re.compile(r"forbidden|denied", re.I), 403),
    (re.compile(r"filter|blocked|sensitive", re.I), 406),
    (re.compile(r"time ?out|timed out", re.I), 408),
    (re.compile(r"error|fail|exception", re.I), 500),
)

Usage = dict[str, int]
StreamFactory = Callable[[str, str], "ChatStream"]


# -- which protocol ------------------------------------------------------------------------
def initialize_params(classic: dict[str, Any]) -> dict[str, Any]:
    """The classic `initialize` params with ACP's added: one request both generations read."""
    return {**classic, "protocolVersion": 1, "clientCapabilities": {},
            "timestamp": int(time.time() * 1000)}


def detect(conn: RpcConnection, setting: str, info: object, *, cwd: str,
           timeout: float) -> tuple[str, str]:
    """Return (protocol, why): the setting when it names one, else what the runtime speaks."""
    if setting in (CLASSIC, ACP):
        return setting, f"LINGMA_PROTOCOL={setting}"
    why = acp_answer(info)
    if why is not None:
        return ACP, why
    return probe(conn, cwd, min(timeout, PROBE_TIMEOUT))


def acp_answer(info: object) -> str | None:
    """Why an `initialize` result is ACP's, or None when it is LSP-shaped (unclear)."""
    if not isinstance(info, dict):
        return None
    if "protocolVersion" in info:
        return f"initialize answered protocolVersion {str(info['protocolVersion'])[:20]}"
    if "agentCapabilities" in info:
        return "initialize answered agentCapabilities"
    return None


def probe(conn: RpcConnection, cwd: str, timeout: float) -> tuple[str, str]:
    """Ask for a session: served means ACP, method not found (or silence) means classic."""
    try:
        result = conn.request(methods.SESSION_NEW, session_params(cwd), timeout=timeout)
    except LingmaTimeoutError:
        return CLASSIC, f"{methods.SESSION_NEW} went unanswered within {timeout:g} s"
    except LingmaRpcError as exc:
        if exc.code == METHOD_NOT_FOUND or _NOT_SERVED.search(exc.message):
            return CLASSIC, f"{methods.SESSION_NEW} is not served (code {exc.code})"
        return ACP, f"{methods.SESSION_NEW} is served (it answered code {exc.code})"
    session_id = session_id_of(result)
    if session_id:
        delete_session(conn, session_id)
    return ACP, f"{methods.SESSION_NEW} is served"


def agent_version(info: object) -> str | None:
    """The runtime's version from an ACP `initialize` result (`agentInfo`), if it gives one."""
    agent = info.get("agentInfo") if isinstance(info, dict) else None
    version = agent.get("version") if isinstance(agent, dict) else None
    return str(version)[:40] if isinstance(version, str | int | float) and version != "" else None


# -- login -------------------------------------------------------------------------------
def auth_status(conn: RpcConnection, timeout: float) -> object:
    """`auth/status`; from a runtime that does not serve it, a status read from the models."""
    try:
        return conn.request(methods.AUTH_STATUS, {}, timeout=timeout)
    except LingmaRpcError as exc:
        if exc.code != METHOD_NOT_FOUND:
            raise
    models = parse_models(conn.request(methods.CONFIG_QUERY_MODELS, {}, timeout=timeout))
    return {"status": 2 if models else 1, "name": "", "source": methods.CONFIG_QUERY_MODELS}


# -- one chat ----------------------------------------------------------------------------
def session_params(cwd: str) -> dict[str, Any]:
    """`session/new` params."""
    return {"cwd": cwd, "mcpServers": [], "_meta": {}, "timestamp": int(time.time() * 1000)}


def session_id_of(result: object) -> str:
    """The session id of a `session/new` result (`sessionId`, or `id` as some builds say)."""
    if not isinstance(result, dict):
        return ""
    for key in ("sessionId", "id"):
        value = result.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return ""


def prompt_params(session_id: str, prompt: str, *, request_id: str, mode: str,
                  model_key: str | None, images: tuple[str, ...] = ()) -> dict[str, Any]:
    """`session/prompt` params: the text, then each picture as an image item."""
    meta: dict[str, Any] = {META_REQUEST_ID: request_id, META_MODE: mode}
    if model_key:
        meta[META_MODEL] = model_key
    items: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
    items += [image_item(image) for image in images]
    return {"sessionId": session_id, "prompt": items, "contextParams": [], "_meta": meta}


def image_item(data_uri: str) -> dict[str, Any]:
    """A picture (a data URI) as an ACP image item (protocol 3.15)."""
    match = _DATA_URI.fullmatch(data_uri)
    if match is None:
        return {"type": "image", "uri": data_uri}
    return {"type": "image", "mimeType": match["mime"], "data": match["data"]}


def ask(router: AcpRouter, prompt: str, model_key: str | None, *, mode: str, cwd: str,
        timeout: float, make_stream: StreamFactory, images: tuple[str, ...] = ()) -> ChatStream:
    """Open a session, set its model, send the prompt (not awaited); return the chat's stream.

    `make_stream(request_id, session_id)` builds the stream; its `on_close` must call
    `router.forget(stream)`. A setup failure raises, after deleting the session it made.
    """
    conn = router.conn
    session_id = session_id_of(conn.request(methods.SESSION_NEW, session_params(cwd), timeout=timeout))
    if not session_id:
        raise LingmaUpstreamError(f"Lingma's {methods.SESSION_NEW} gave no session id")
    try:
        if model_key:
            conn.request(methods.SESSION_SET_MODEL, {"sessionId": session_id, "modelId": model_key,
                                                     "timestamp": int(time.time() * 1000)},
                         timeout=timeout)
        request_id = uuid.uuid4().hex
        stream = make_stream(request_id, session_id)
    except BaseException:
        delete_session(conn, session_id)
        raise
    params = prompt_params(session_id, prompt, request_id=request_id, mode=mode,
                           model_key=model_key, images=images)
    try:
        conn.register(stream)
        router.track(stream)
        stream.ask_rpc_id = conn.request_nowait(methods.SESSION_PROMPT, params,
                                                on_reply=conn.ask_reply_hook(stream))
    except BaseException:
        stream.discard()
        delete_session(conn, session_id)
        raise
    return stream


def canceller(conn: RpcConnection) -> Callable[[str, str], None]:
    """A `ChatStream` stopper that sends `session/cancel` (a notification, as ACP has it)."""
    def cancel(request_id: str, session_id: str) -> None:
        conn.notify(methods.SESSION_CANCEL, {"sessionId": session_id})
    return cancel


def delete_session(conn: RpcConnection, session_id: str) -> None:
    """Forget a session Lingma made for us (not awaited; nothing if the connection is gone)."""
    if conn.closed.is_set():
        return
    try:
        conn.request_nowait(methods.CHAT_DELETE_SESSION, {"sessionId": session_id, "id": session_id})
    except LingmaError as exc:
        log.debug("%s for %s not sent: %s", methods.CHAT_DELETE_SESSION, session_id, exc)


# -- the pushes ----------------------------------------------------------------------------
class AcpRouter:
    """Routes one connection's `session/update` pushes to its streams (in the reader thread)."""

    def __init__(self, conn: RpcConnection, on_usage: Callable[[Usage], None] | None = None):
        self.conn = conn
        self._on_usage = on_usage
        self._sessions: dict[str, str] = {}   # sessionId → request id, for updates without _meta
        conn.push_handlers[methods.SESSION_UPDATE] = self.on_update

    def track(self, stream: ChatStream) -> None:
        """Route the updates of `stream.session_id` that carry no request id to `stream`."""
        self._sessions[stream.session_id] = stream.request_id

    def forget(self, stream: ChatStream) -> None:
        """Stop routing by the stream's session id."""
        self._sessions.pop(stream.session_id, None)

    def stream_for(self, params: dict[str, Any]) -> ChatStream | None:
        """The stream an update is about: by its request id, else (none given) its session."""
        meta = params.get("_meta")
        request_id: Any = meta.get(META_REQUEST_ID) if isinstance(meta, dict) else None
        if request_id is None:
            session_id: Any = params.get("sessionId")
            request_id = self._sessions.get(session_id) if isinstance(session_id, str) else None
        return self.conn.streams.get(request_id) if isinstance(request_id, str) else None

    def on_update(self, params: dict[str, Any]) -> None:
        """Handle one `session/update` (already acknowledged if it was a request)."""
        update = params.get("update")
        if not isinstance(update, dict):
            return
        kind = update.get("sessionUpdate")
        stream = self.stream_for(params)
        if kind == "notification":
            self._notification(update, stream)
        elif stream is None:
            return
        elif kind == "agent_message_chunk":
            stream.push_answer({"text": content_text(update.get("content"))})
        elif kind == "agent_thought_chunk":
            stream.push_think({"text": content_text(update.get("content"))})

    def _notification(self, update: dict[str, Any], stream: ChatStream | None) -> None:
        data = update.get("data")
        data = data if isinstance(data, dict) else {}
        what = update.get("type")
        if what == "context_usage":
            usage = usage_of(data)
            if usage is None:
                return
            if stream is not None:
                stream.context_usage = usage
            if self._on_usage is not None:
                self._on_usage(usage)
        elif what == "chat_finish" and stream is not None:
            stream.push_finish(finish_params(data, stream.session_id))


def content_text(content: object) -> str:
    """The text of an update's content: one text block, or a list of them."""
    if isinstance(content, dict):
        text = content.get("text")
        return text if isinstance(text, str) else ""
    if isinstance(content, list):
        return "".join(content_text(block) for block in content)
    return ""


def usage_of(data: dict[str, Any]) -> Usage | None:
    """`{usedTokens, limitTokens}` of a context_usage (or context/usage/sync), when both read."""
    usage = {}
    for key in ("usedTokens", "limitTokens"):
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            return None
        usage[key] = int(value)
    return usage


def finish_params(data: dict[str, Any], session_id: str) -> dict[str, Any]:
    """A chat_finish's data as classic `chat/finish` params, for `ChatStream.push_finish`."""
    reason = data.get("reason")
    reason = reason if isinstance(reason, str) else ""
    status = data.get("statusCode")
    if status is None or status == "":
        status = reason_status(reason)
    full = data.get("fullAnswer")
    sid = data.get("sessionId")
    return {"statusCode": status, "reason": reason,
            "fullAnswer": full if isinstance(full, str) else "",
            "sessionId": sid if isinstance(sid, str) and sid else session_id}


def reason_status(reason: str) -> int:
    """The classic status a finish reason stands for (200 when it names no failure)."""
    for pattern, status in _REASON_STATUS:
        if pattern.search(reason):
            return status
    return 200


def watch_context_usage(conn: RpcConnection, on_usage: Callable[[Usage], None]) -> None:
    """Take classic `context/usage/sync` pushes (Qoder CN builds, protocol 3.11) as usage too."""
    def handle(params: dict[str, Any]) -> None:
        usage = usage_of(params)
        if usage is not None:
            on_usage(usage)
    conn.push_handlers[methods.CONTEXT_USAGE_SYNC] = handle
