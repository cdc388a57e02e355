"""Turns a `Scenario` into the timed list of steps (pushes and fault actions) of one ask."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from ..lingma import methods as wire
from .scenario import THINK_CHUNKS
from .scenario import Scenario
from .scenario import split_text


@dataclasses.dataclass
class Step:
    """One action of an ask: `delay` seconds after the previous step, then do `kind`.

    Kinds: `push` (data = (method, params)), `tool` (tool/invoke then wait), `toolwait`
    (the wait's timeout), `garbage`, `crash`, `drop`, `stall` (go silent).
    """

    delay: float
    kind: str
    data: tuple[str, dict[str, Any]] | None = None

    def message(self) -> tuple[str, dict[str, Any]]:
        """(method, params) of a `push` or `tool` step."""
        if self.data is None:
            raise ValueError(f"a {self.kind} step carries no message")
        return self.data


@dataclasses.dataclass
class AskInfo:
    """The parts of a `chat/ask` the pushes need."""

    request_id: str
    session_id: str
    session_type: str
    new_session: bool
    agent: bool
    dialect: Any = None   # an ACP ask's `acp.AcpDialect`: its pushes go out translated


def step_params(info: AskInfo, step: str, status: str = "done") -> dict:
    """Params of a `chat/process_step_callback`."""
    return {"requestId": info.request_id, "sessionId": info.session_id, "step": step,
            "description": "", "status": status, "result": None, "message": ""}


def answer_params(info: AskInfo, text: str) -> dict:
    """Params of a `chat/answer` (timestamp is filled when sent)."""
    return {"requestId": info.request_id, "sessionId": info.session_id, "text": text,
            "overwrite": False, "isFiltered": False, "timestamp": 0,
            "extra": {"sessionType": info.session_type}}


def finish_params(info: AskInfo, code: int, reason: str, full: str) -> dict:
    """Params of a `chat/finish`."""
    return {"requestId": info.request_id, "sessionId": info.session_id, "reason": reason,
            "statusCode": code, "fullAnswer": full, "extra": {}}


def push(delay: float, method: str, params: dict) -> Step:
    """A push step."""
    return Step(delay, "push", (method, params))


def rejected(info: AskInfo, code: int, reason: str) -> list[Step]:
    """An ask refused at once: a lone non-200 `chat/finish`."""
    return [push(0.0, wire.CHAT_FINISH, finish_params(info, code, reason, ""))]


def build(info: AskInfo, s: Scenario) -> list[Step]:
    """The whole timed plan of one ask."""
    steps = [push(0.0, wire.CHAT_PROCESS_STEP_CALLBACK, step_params(info, "step_start"))]
    if info.new_session:
        title = (s.turn or "New chat")[:30]
        steps.append(push(0.0, wire.SESSION_TITLE_UPDATE,
                          {"sessionId": info.session_id, "sessionTitle": title}))
    if s.garbage:
        steps.append(Step(0.0, "garbage"))
    if s.toolinvoke and info.agent:
        params = {"requestId": info.request_id, "toolCallId": uuid.uuid4().hex,
                  "name": "read_file", "parameters": {}, "async": False}
        steps.append(Step(0.0, "tool", (wire.TOOL_INVOKE, params)))
    if s.stall:
        return steps + [Step(0.0, "stall")]
    if s.think == "push":
        steps += _think(info, s)
    steps += _body(info, s)
    if s.coalesce:
        for i, step in enumerate(steps):
            if i % 3:
                step.delay = 0.0  # groups of three due together, sent as one message
    return steps


def _think(info: AskInfo, s: Scenario) -> list[Step]:
    """The reasoning as `chat/think` pushes with step "start", then an empty step "done"."""
    base = {"requestId": info.request_id, "sessionId": info.session_id, "timestamp": 0, "extra": {}}
    steps = [push(s.first_token_delay / 2 if i == 0 else s.chunk_delay, wire.CHAT_THINK,
                  dict(base, text=text, step="start"))
             for i, text in enumerate(split_text(s.reasoning, size=1, count=THINK_CHUNKS))]
    return steps + [push(0.0, wire.CHAT_THINK, dict(base, text="", step="done"))]


def _body(info: AskInfo, s: Scenario) -> list[Step]:
    if s.finish_code != 200:
        return _error_body(info, s)
    if s.empty_then_full:
        chunks = [push(s.first_token_delay, wire.CHAT_ANSWER, answer_params(info, "")),
                  push(s.chunk_delay, wire.CHAT_ANSWER, answer_params(info, ""))]
        return chunks + _ending(info, 200, s.finish_reason, s.answer, "done")
    steps = _chunks(info, s, s.chunks)
    cut = _cut(s)
    if cut is not None:
        return _truncate(steps, cut[0]) + [Step(s.chunk_delay, cut[1])]
    return steps + _ending(info, 200, s.finish_reason, s.answer, "done")


def _cut(s: Scenario):
    for count, kind in ((s.crash_after, "crash"), (s.drop_after, "drop"), (s.stall_after, "stall")):
        if count is not None:
            return count, kind
    return None


def _chunks(info: AskInfo, s: Scenario, chunks: list[str]) -> list[Step]:
    steps = []
    for i, text in enumerate(chunks):
        delay = s.first_token_delay if i == 0 else s.chunk_delay
        steps.append(push(delay, wire.CHAT_ANSWER, answer_params(info, text)))
        if s.empty_every > 0 and (i + 1) % s.empty_every == 0 and i + 1 < len(chunks):
            steps.append(push(0.0, wire.CHAT_ANSWER, answer_params(info, "")))
    return steps


def _truncate(steps: list[Step], real: int) -> list[Step]:
    """Keep the steps up to and including the `real`-th non-empty chunk."""
    out, seen = [], 0
    for step in steps:
        if seen >= real:
            break
        out.append(step)
        if step.message()[1]["text"]:
            seen += 1
    return out


def _error_body(info: AskInfo, s: Scenario) -> list[Step]:
    partial = s.chunks[: max(0, s.partial)]
    steps = _chunks(info, s, partial)
    delay = s.chunk_delay if steps else s.first_token_delay
    ending = _ending(info, s.finish_code, s.finish_reason, "".join(partial), "error")
    ending[0].delay = delay
    return steps + ending


def _ending(info: AskInfo, code: int, reason: str, full: str, status: str) -> list[Step]:
    return [push(0.0, wire.CHAT_PROCESS_STEP_CALLBACK, step_params(info, "step_end", status)),
            push(0.0, wire.CHAT_FINISH, finish_params(info, code, reason, full))]
