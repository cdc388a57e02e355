"""The ACP-style surface of the desktop runtimes (protocol notes 3.17), for `--protocol acp`.

With `LINGMA_SIM_PROTOCOL=acp` (or `start --protocol acp`) `initialize` is answered the ACP way
and `session/new`, `session/set_model`, `session/prompt` and `session/cancel` are served (the
classic methods stay: a desktop runtime serves `chat/ask` too). A prompt becomes an ordinary
ask — the same scenario, markers, plan, scheduler and faults as `chat/ask` — whose classic
pushes an `AcpDialect` translates as they are sent:

    chat/answer                → session/update agent_message_chunk
    chat/think (step start)    → session/update agent_thought_chunk (+ thinking duration)
    chat/finish                → session/update notification context_usage, then chat_finish
                                 {requestId, sessionId, reason, statusCode, fullAnswer}
    session/title/update       → task/status/sync (a request, as the desktop's task family)
    anything else              → as it is (process steps, tool/invoke)

`session/update` goes out as a notification, or as a request with `LINGMA_SIM_ACP_UPDATES=request`
or the marker `updates=request` (builds differ); `nometa` leaves `_meta` out of the updates;
`limit_tokens=N` sets the context_usage `limitTokens`. `reply=success` answers the prompt
request with `{stopReason}` after its chat_finish.
"""

from __future__ import annotations

import time
import uuid

from ..lingma import methods as wire
from . import handlers
from . import methods
from .protocol import NO_REPLY
from .protocol import RpcError

ERR_INVALID_PARAMS = -32602
META_REQUEST_ID = "ai-coding/request-id"
META_MODE = "ai-coding/mode"
THINKING_MS = "ai-coding/thinking-duration-millis"
TASK_STATUS_SYNC = "task/status/sync"


class AcpDialect:
    """How one ACP ask's classic pushes go on the wire (see the module docstring)."""

    def __init__(self, config, *, session_id: str, request_id: str, prompt_chars: int):
        self.session_id = session_id
        self.request_id = request_id
        self.prompt_chars = prompt_chars
        self.as_requests = config.acp_updates.lower() == "request"
        self.meta = True
        self.limit = config.context_limit
        self.reply_id = None
        self._thinking_since: float | None = None

    def bind(self, scenario, msg_id) -> AcpDialect:
        """Take this ask's markers and reply mode; return self."""
        items = scenario.items
        self.as_requests = str(items.get("updates", "request" if self.as_requests else "")).lower() == "request"
        self.meta = "nometa" not in items
        try:
            self.limit = int(items.get("limit_tokens", self.limit))
        except (TypeError, ValueError):
            pass
        self.reply_id = msg_id if scenario.reply == "success" else None
        return self

    def translate(self, method: str, params: dict) -> list[tuple[dict, bool]]:
        """[(message body without jsonrpc/id, whether it is a request)] for one classic push."""
        if method == wire.CHAT_ANSWER:
            return [self._update("agent_message_chunk", content=_text(params["text"]))]
        if method == wire.CHAT_THINK:
            return self._thought(params)
        if method == wire.CHAT_FINISH:
            return self._finish(params)
        if method == wire.SESSION_TITLE_UPDATE:
            return [({"method": TASK_STATUS_SYNC, "params": {
                "sessionId": self.session_id, "requestId": self.request_id, "status": "running"}}, True)]
        return [({"method": method, "params": params}, True)]

    def _update(self, kind: str, **fields) -> tuple[dict, bool]:
        params: dict = {"sessionId": self.session_id}
        if self.meta:
            params["_meta"] = {META_REQUEST_ID: self.request_id}
        params["update"] = {"sessionUpdate": kind, **fields}
        return {"method": wire.SESSION_UPDATE, "params": params}, self.as_requests

    def _thought(self, params: dict) -> list[tuple[dict, bool]]:
        if params.get("step") != "start" or not params.get("text"):
            return []
        now = time.monotonic()
        if self._thinking_since is None:
            self._thinking_since = now
        millis = int((now - self._thinking_since) * 1000)
        return [self._update("agent_thought_chunk", content=_text(params["text"]),
                             _meta={THINKING_MS: millis})]

    def _finish(self, params: dict) -> list[tuple[dict, bool]]:
        full = params.get("fullAnswer") or ""
        usage = {"usedTokens": (self.prompt_chars + len(full)) // 4, "limitTokens": self.limit}
        data = {"requestId": self.request_id, "sessionId": self.session_id,
                "reason": params.get("reason"), "statusCode": params.get("statusCode"), "fullAnswer": full}
        out = [self._update("notification", type="context_usage", data=usage),
               self._update("notification", type="chat_finish", data=data)]
        if self.reply_id is not None:
            stop = "cancelled" if params.get("reason") == "cancelled" else "end_turn"
            out.append(({"id": self.reply_id, "result": {"stopReason": stop}}, False))
        return out


def _text(text: str) -> dict:
    return {"type": "text", "text": text}


# handlers ------------------------------------------------------------------------
def _initialize(session, params, msg_id):
    result = handlers.HANDLERS[wire.INITIALIZE](session, params, msg_id)
    if result is NO_REPLY:
        return result
    return methods.acp_initialize_result(session.sim.config.acp_init)


def _session_new(session, params, msg_id):
    session_id = uuid.uuid4().hex
    session.sim.state.new_acp_session(session_id, str(params.get("cwd") or ""))
    return {"sessionId": session_id}


def _set_model(session, params, msg_id):
    session_id, model = params.get("sessionId"), params.get("modelId")
    if not session.sim.state.set_acp_model(session_id, model):
        raise RpcError(ERR_INVALID_PARAMS, "session not found: %s" % session_id)
    return {}


def _prompt(session, params, msg_id):
    session_id = params.get("sessionId")
    known = session.sim.state.acp_session(session_id)
    if known is None:
        raise RpcError(ERR_INVALID_PARAMS, "session not found: %s" % session_id)
    meta = params.get("_meta")
    meta = meta if isinstance(meta, dict) else {}
    request_id = str(meta.get(META_REQUEST_ID) or uuid.uuid4().hex)
    items = params.get("prompt")
    items = [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
    text = "".join(str(item.get("text") or "") for item in items if item.get("type") == "text")
    images = [str(item.get("uri") or "inline:%s" % item.get("mimeType")) for item in items
              if item.get("type") == "image"]
    mode = str(meta.get(META_MODE) or "agent")
    ask = {"requestId": request_id, "sessionId": session_id, "sessionType": "assistant",
           "chatTask": "FREE_INPUT", "mode": mode, "questionText": text,
           "chatContext": {"imageUrls": images},
           "extra": {"modelConfig": {"key": known["model"]}} if known["model"] else {}}
    dialect = AcpDialect(session.sim.config, session_id=session_id, request_id=request_id,
                         prompt_chars=len(text))
    return handlers.start_ask(session, ask, msg_id, dialect)


def _cancel(session, params, msg_id):
    session_id = str(params.get("sessionId") or "")
    session.sim.state.record_cancel(session_id)
    request_id = session.scheduler.request_of(session_id)
    if request_id is not None:
        session.sim.state.record_stop(request_id)
        session.scheduler.stop(request_id)
    return {}


HANDLERS = {
    **handlers.HANDLERS,
    wire.INITIALIZE: _initialize,
    wire.SESSION_NEW: _session_new,
    wire.SESSION_SET_MODEL: _set_model,
    wire.SESSION_PROMPT: _prompt,
    wire.SESSION_CANCEL: _cancel,
}
