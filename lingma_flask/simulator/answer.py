"""Choose one ask's answer text and its reasoning from the prompt, markers and config.

Precedence: `repair=B64` on the gateway's repair turn, `then=B64` on a turn of tool results,
`answer=B64` (exact text), `len=N`
filler, `LINGMA_SIM_ANSWER`, `echo=full`, a tool call (tools offered, and either the tool choice
demands a call or a tool marker asks for one in the user's own turn), a structured-output
object, the text answer to tool results, and by default `You said: <last user turn, capped>`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses

from . import conversation
from . import jsonanswer
from . import toolanswer
from .config import SimConfig

_URLSAFE = str.maketrans("-_", "+/")
LONG, SHORT, TOOL = "long", "short", "tool"  # chunking classes (see scenario.chunking)
_FILLER = "Lorem ipsum dolor sit amet, 灵码模拟回答。Consectetur adipiscing elit; 你好，世界！ "


@dataclasses.dataclass
class Answer:
    """The answer text, how to chunk it, and the model's reasoning text."""

    text: str
    kind: str
    turn: str
    reasoning: str


def filler(length: int) -> str:
    """Deterministic text of exactly `length` characters, mixing ASCII and CJK."""
    reps = length // len(_FILLER) + 1
    return (_FILLER * reps)[:length]


def compose(cleaned: str, items: dict, config: SimConfig, *, images: int = 0) -> Answer:
    """Build the answer for a prompt whose markers are already removed."""
    turn = conversation.last_user_turn(cleaned)
    reasoning = "Thinking about: " + conversation.cap(turn)
    text, kind = _text(cleaned, turn, items, config, images)
    return Answer(text, kind, turn, reasoning)


def _text(cleaned: str, turn: str, items: dict, config: SimConfig, images: int):
    fixed = _fixed(cleaned, items, config)
    if fixed is not None:
        return fixed, LONG
    tools = conversation.offered_tools(cleaned)
    tool_results = conversation.is_tool_results(turn)
    # a compliant model calls when the tool choice demands it, tool results or not
    if tools and (conversation.call_required(cleaned)
                  or (toolanswer.wants_call(items) and not tool_results)):
        return toolanswer.call_answer(tools, items, turn), TOOL
    schema = conversation.response_schema(cleaned)
    if schema is not None:
        return jsonanswer.json_answer(schema, items, turn), SHORT
    if tool_results:
        return toolanswer.tool_result_answer(turn), SHORT
    suffix = f" [{images} image(s)]" if images else ""
    return "You said: " + conversation.cap(turn) + suffix, SHORT


def exact_answer(value) -> str | None:
    """Decode `answer` (base64url of UTF-8 text, padding optional); None if absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        standard = value.translate(_URLSAFE) + "=" * (-len(value) % 4)
        return base64.b64decode(standard, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def _fixed(cleaned: str, items: dict, config: SimConfig):
    turn = conversation.last_user_turn(cleaned)
    repair = exact_answer(items.get("repair"))
    if repair is not None and conversation.is_repair_turn(turn):
        return repair
    then = exact_answer(items.get("then"))
    if then is not None and conversation.is_tool_results(turn):
        return then
    exact = exact_answer(items.get("answer"))
    if exact is not None:
        return exact
    length = items.get("len")
    if length is not None and length is not True:
        try:
            return filler(max(0, int(length)))
        except ValueError:
            pass
    if config.answer is not None:
        return config.answer
    if str(items.get("echo", config.echo)).lower() == "full":
        return "You said: " + cleaned
    return None
