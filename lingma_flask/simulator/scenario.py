"""Per-ask decisions: markers in the prompt, the answer text, its chunks and the chosen fault.

A marker is `[[sim:key=value]]` or `[[sim:flag]]`; one marker may hold several items separated
by commas, semicolons or spaces (`[[sim:finish=429,reason=slow_down]]`). `LINGMA_SIM_FAULT`
holds a marker body applied to every ask; markers in the prompt override it.
"""

from __future__ import annotations

import dataclasses
import re

from . import answer as answers
from .config import SimConfig

MARKER_RE = re.compile(r"\[\[sim:([^\]]*)\]\]")
_ITEM_SPLIT = re.compile(r"[,;\s]+")
LONG_CHUNK = 4   # characters per chunk of long answers (len=, echo=full, LINGMA_SIM_ANSWER)
TOOL_CHUNK = 7   # characters per chunk of tool-call answers: cuts inside the markup
THINK_CHUNKS = 3  # chat/think pushes carrying the reasoning
# Qoder-style reasoning fence inside the answer text (protocol notes 3.12)
FENCE_START = "\n```think::{THINK_TIME}\n"
FENCE_END = "\n```\n"

DEFAULT_REASONS = {
    200: "success",
    400: "bad request",
    401: "user not logged in",
    403: "quota exhausted",
    406: "content filtered",
    408: "timeout",
    429: "rate limited",
    500: "internal error",
    601: "content blocked",
    31404: "model not found",
    40505: "model unavailable",
}


def parse_markers(text: str) -> tuple[str, dict]:
    """Return (text without markers, stripped; {key: value or True})."""
    items: dict = {}
    for body in MARKER_RE.findall(text or ""):
        items.update(parse_body(body))
    return MARKER_RE.sub("", text or "").strip(), items


def parse_body(body: str) -> dict:
    """Parse one marker body (`a=1,b` → {"a": "1", "b": True})."""
    items: dict = {}
    for item in _ITEM_SPLIT.split(body.strip()):
        if not item:
            continue
        key, sep, value = item.partition("=")
        items[key.strip().lower()] = value.strip() if sep else True
    return items


def split_text(text: str, *, size: int, count: int | None) -> list[str]:
    """Split into `count` near-equal chunks if given, else chunks of `size` characters."""
    if not text:
        return []
    if count:
        count = max(1, min(count, len(text)))
        base, extra = divmod(len(text), count)
        out, pos = [], 0
        for i in range(count):
            step = base + (1 if i < extra else 0)
            out.append(text[pos:pos + step])
            pos += step
        return out
    size = max(1, size)
    return [text[i:i + size] for i in range(0, len(text), size)]


def _num(items: dict, key: str, default, cast=float):
    value = items.get(key)
    if value is None or value is True:
        return default
    try:
        return cast(value)
    except ValueError:
        return default


def _opt_int(items: dict, key: str) -> int | None:
    return _num(items, key, None, int)


@dataclasses.dataclass
class Scenario:
    """What one ask does: its answer, timing, reply mode and fault."""

    question: str
    answer: str
    chunks: list[str]
    first_token_delay: float
    chunk_delay: float
    empty_every: int
    reply: str
    stop_mode: str
    stamp: bool
    stamp_text: bool = False
    finish_code: int = 200
    finish_reason: str = "success"
    partial: int = 0                 # chunks sent before a non-200 finish
    stall: bool = False
    stall_after: int | None = None
    crash_after: int | None = None
    drop_after: int | None = None
    garbage: bool = False
    split: bool = False
    coalesce: bool = False
    empty_then_full: bool = False
    toolinvoke: bool = False
    think: str = "off"               # off | push (chat/think pushes) | fence (inside the text)
    turn: str = ""                   # the last user turn, markers removed
    reasoning: str = ""
    items: dict = dataclasses.field(default_factory=dict)


def build(question_text: str, config: SimConfig, *, model: str = "", images: int = 0) -> Scenario:
    """Decide everything about one ask from its prompt, model and the process config."""
    cleaned, prompt_items = parse_markers(question_text)
    items = dict(parse_body(config.fault))
    items.update(prompt_items)
    chosen = answers.compose(cleaned, items, config, images=images)
    think = think_mode(items, model)
    text = chosen.text
    if think == "fence":
        text = FENCE_START + chosen.reasoning + FENCE_END + text
    scenario = Scenario(
        question=cleaned, answer=text, chunks=split_text(text, **chunking(items, config, chosen.kind)),
        first_token_delay=_num(items, "ttft", config.first_token_delay),
        chunk_delay=_num(items, "delay", config.chunk_delay),
        empty_every=_num(items, "empty", config.empty_every, int),
        reply=str(items.get("reply", config.ask_reply)).lower(),
        stop_mode=str(items.get("stopmode", config.stop_mode)).lower(),
        stamp=bool(items.get("stamp")) or config.stamp or config.stamp_text,
        stamp_text=items.get("stamp") == "text" or config.stamp_text,
        think=think, turn=chosen.turn, reasoning=chosen.reasoning, items=items,
    )
    _apply_faults(scenario, items, len(scenario.chunks))
    return scenario


def chunking(items: dict, config: SimConfig, kind: str) -> dict:
    """`split_text` arguments: markers, then LINGMA_SIM_CHUNK_CHARS, then the answer's kind."""
    count, size = _opt_int(items, "chunks"), _opt_int(items, "chunk")
    if count or size:
        return {"size": size or LONG_CHUNK, "count": count}
    if config.chunk_chars > 0:
        return {"size": config.chunk_chars, "count": None}
    if kind == answers.SHORT:
        return {"size": LONG_CHUNK, "count": config.chunks}
    return {"size": TOOL_CHUNK if kind == answers.TOOL else LONG_CHUNK, "count": None}


def think_mode(items: dict, model: str) -> str:
    """`push`, `fence` or `off`: the `think` marker, else `push` for a thinking model."""
    value = items.get("think")
    if value is True:
        return "push"
    if isinstance(value, str) and value.lower() in ("push", "fence", "off"):
        return value.lower()
    return "push" if "thinking" in (model or "").lower() else "off"


def _apply_faults(s: Scenario, items: dict, n_chunks: int) -> None:
    half = max(1, (n_chunks + 1) // 2)
    if "finish" in items:
        s.finish_code = _num(items, "finish", 500, int)
        s.partial = _num(items, "partial", 0, int)
    reason = items.get("reason")
    if isinstance(reason, str):
        s.finish_reason = reason.replace("_", " ")
    else:
        s.finish_reason = DEFAULT_REASONS.get(s.finish_code, "error %d" % s.finish_code)
    s.stall = "stall" in items
    s.stall_after = _opt_int(items, "stall_after")
    if "crash" in items:
        s.crash_after = _num(items, "crash", half, int)
    if "drop" in items:
        s.drop_after = _num(items, "drop", half, int)
    for flag in ("garbage", "split", "coalesce", "empty_then_full", "toolinvoke"):
        setattr(s, flag, flag in items)


def reject(code: int, reason: str | None = None) -> tuple[int, str]:
    """A (statusCode, reason) pair with the default reason for the code."""
    return code, reason or DEFAULT_REASONS.get(code, "error %d" % code)
