"""One short chat each way a Lingma runtime speaks: classic `chat/ask` and ACP `session/prompt`.

The classic ask is built as the gateway builds it (`lingma.ask.build_ask`), the ACP one from
the gateway's ACP module (`lingma.acp`: session, prompt and update shapes, protocol 3.17), so
the doctor checks what the gateway would send. Each returns what came back and how long it took.
"""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from typing import Any

from ..lingma import acp
from ..lingma import methods
from ..lingma.ask import build_ask
from ..lingma.ask import new_ids
from ..lingma.errors import finish_error
from .wire import Message
from .wire import RpcError
from .wire import WireClient
from .wire import WireError
from .wire import is_response
from .wire import push_params

PROMPT = "Reply with exactly one word: pong"
_NOT_SERVED = re.compile(r"not found|unknown method|not supported|unsupported|unimplemented", re.I)
ANSWER_SHOWN = 60   # characters of the answer in a report row


@dataclasses.dataclass
class ChatOutcome:
    """An answered chat: its text, when its first text came and when it finished (seconds)."""

    text: str = ""
    first_token: float | None = None
    seconds: float = 0.0
    finish: str = ""

    def describe(self) -> str:
        """One line for the report: the answer (cut) and its timings."""
        shown = " ".join(self.text.split())
        shown = shown if len(shown) <= ANSWER_SHOWN else shown[:ANSWER_SHOWN - 1] + "…"
        first = f"first text {self.first_token:.2f}s, " if self.first_token is not None else ""
        return f"answered {shown!r} ({first}{self.finish})"


def _ask_refused(result: object) -> str | None:
    """The failure a `chat/ask` reply reports (`isSuccess`/`success` false, an error message), if any."""
    if not isinstance(result, dict):
        return None
    message = result.get("errorMessage") or result.get("errorMsg")
    if result.get("isSuccess") is False or result.get("success") is False or message:
        return str(message or "refused")
    return None


def classic_chat(client: WireClient, model_key: str | None, workspace: str, timeout: float) -> ChatOutcome:
    """Send `chat/ask`, read `chat/answer` until `chat/finish`, delete the session; raise on failure."""
    request_id, session_id = new_ids()
    params = build_ask(PROMPT, model_key, mode="chat", request_id=request_id, session_id=session_id,
                       workspace=workspace, auto_memory=False)
    began = time.monotonic()
    outcome = ChatOutcome()
    ask_id = client.request_nowait(methods.CHAT_ASK, params)
    finish: dict[str, Any] | None = None
    for message in client.messages(began + timeout, f"{methods.CHAT_FINISH} for the ask"):
        if is_response(message, ask_id):
            _check_reply(message, methods.CHAT_ASK)
            continue
        answer = push_params(message, methods.CHAT_ANSWER)
        if answer is not None and answer.get("requestId") == request_id:
            _take_text(outcome, answer.get("text"), began)
            continue
        finish = push_params(message, methods.CHAT_FINISH)
        if finish is not None and finish.get("requestId") == request_id:
            break
    assert finish is not None   # the loop ends only at the finish (or raises at the deadline)
    outcome.seconds = time.monotonic() - began
    session = str(finish.get("sessionId") or session_id)
    client.request_nowait(methods.CHAT_DELETE_SESSION, {"sessionId": session, "id": session})
    if not outcome.text and isinstance(finish.get("fullAnswer"), str):
        outcome.text = finish["fullAnswer"]
    return _finished(outcome, finish, methods.CHAT_FINISH)


def acp_session(client: WireClient, cwd: str, timeout: float) -> str:
    """`session/new`; return the session id (RpcError when the runtime does not serve it)."""
    session_id = acp.session_id_of(client.request(methods.SESSION_NEW, acp.session_params(cwd), timeout))
    if not session_id:
        raise WireError(f"{methods.SESSION_NEW} answered without a session id")
    return session_id


def not_served(error: RpcError) -> bool:
    """Whether an RPC error says the method does not exist (as the gateway's detection reads it)."""
    return error.code == acp.METHOD_NOT_FOUND or _NOT_SERVED.search(error.message) is not None


def acp_set_model(client: WireClient, session_id: str, model_key: str, timeout: float) -> None:
    """`session/set_model` with the model key, as the gateway sends it."""
    client.request(methods.SESSION_SET_MODEL, {"sessionId": session_id, "modelId": model_key,
                                               "timestamp": int(time.time() * 1000)}, timeout)


def acp_chat(client: WireClient, session_id: str, model_key: str | None, timeout: float) -> ChatOutcome:
    """Send `session/prompt`, read `session/update` until `chat_finish`, delete the session."""
    request_id = f"doctor-{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}"
    params = acp.prompt_params(session_id, PROMPT, request_id=request_id, mode="chat", model_key=model_key)
    began = time.monotonic()
    outcome = ChatOutcome()
    prompt_id = client.request_nowait(methods.SESSION_PROMPT, params)
    finish: dict[str, Any] | None = None
    try:
        for message in client.messages(began + timeout, "the chat_finish update"):
            if is_response(message, prompt_id):
                _check_reply(message, methods.SESSION_PROMPT)   # a result ({stopReason}) is not the end
                continue
            update = _update_for(message, request_id, session_id)
            if update is None:
                continue
            kind = update.get("sessionUpdate")
            if kind == "agent_message_chunk":
                _take_text(outcome, acp.content_text(update.get("content")), began)
            elif kind == "notification" and update.get("type") == "chat_finish":
                data = update.get("data")
                finish = acp.finish_params(data if isinstance(data, dict) else {}, session_id)
                break
    finally:
        client.request_nowait(methods.CHAT_DELETE_SESSION, {"sessionId": session_id, "id": session_id})
    assert finish is not None
    outcome.seconds = time.monotonic() - began
    if not outcome.text and finish.get("fullAnswer"):
        outcome.text = str(finish["fullAnswer"])
    return _finished(outcome, finish, "chat_finish")


def _update_for(message: Message, request_id: str, session_id: str) -> dict[str, Any] | None:
    """The `update` of a `session/update` about this chat (by request id, else by session)."""
    params = push_params(message, methods.SESSION_UPDATE)
    if params is None:
        return None
    meta = params.get("_meta")
    ours = meta.get(acp.META_REQUEST_ID) if isinstance(meta, dict) else None
    if ours is None and params.get("sessionId") != session_id:
        return None
    if ours is not None and ours != request_id:
        return None
    update = params.get("update")
    return update if isinstance(update, dict) else None


def _take_text(outcome: ChatOutcome, text: object, began: float) -> None:
    if isinstance(text, str) and text:
        if outcome.first_token is None:
            outcome.first_token = time.monotonic() - began
        outcome.text += text


def _check_reply(message: Message, method: str) -> None:
    """Raise when the reply to the ask says it failed."""
    error = message.get("error")
    if error is not None:
        detail = error if isinstance(error, dict) else {}
        raise RpcError(method, detail.get("code"), str(detail.get("message") or error))
    refused = _ask_refused(message.get("result"))
    if refused:
        raise WireError(f"{method} was refused: {refused}")


def _finished(outcome: ChatOutcome, finish: dict[str, Any], name: str) -> ChatOutcome:
    status, reason = finish.get("statusCode"), str(finish.get("reason") or "")
    error = finish_error(status, reason)
    if error is not None:
        raise WireError(f"{name} statusCode {status}: {error.message}")
    outcome.finish = f"{name} {status if status is not None else 'without status'} after {outcome.seconds:.2f}s"
    return outcome
