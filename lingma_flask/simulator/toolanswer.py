"""Answers in the Qwen tool-call formats the gateway parses (see docs/simulator.md, tools).

A call answer is optional prose, then one or more `<tool_call>` blocks in the JSON (Hermes),
XML (Qwen3-Coder) or fenced-JSON form. Arguments are synthesized from the tool's schema unless
the `tool_args` marker gives them; `tool_invalid` breaks them until the repair turn.
"""

from __future__ import annotations

import base64
import binascii
import json

from . import conversation
from . import schema_fill

TOOL_KEYS = ("tool", "tools", "tool_args", "tool_form", "tool_text", "tool_invalid",
             "tool_unclosed")
OPEN, CLOSE = "<tool_call>", "</tool_call>"
MAX_CALLS = 50


def wants_call(items: dict) -> bool:
    """True when a marker asks for a tool call."""
    return any(key in items for key in TOOL_KEYS)


def call_answer(tools: list[dict], items: dict, turn: str) -> str:
    """The answer text: prose, then the requested calls of the chosen tool."""
    tool = choose(tools, items.get("tool"))
    name = tool["name"]
    schema = tool.get("parameters")
    schema = schema if isinstance(schema, dict) else {}
    args = given_arguments(items.get("tool_args"))
    if args is None:
        args = schema_fill.synthesize(schema)
    if conversation.breaks_now(items.get("tool_invalid"), turn, "tool_call_error"):
        args = schema_fill.break_object(args, schema)
    blocks = [render(name, args, str(items.get("tool_form") or "json")) for _ in range(_count(items))]
    if "tool_unclosed" in items:
        blocks[-1] = blocks[-1][: -len("\n" + CLOSE)]
    prose = items.get("tool_text")
    prose = f"Let me use {name}." if not isinstance(prose, str) else prose.replace("_", " ")
    return "\n".join(([prose] if prose else []) + blocks)


def tool_result_answer(turn: str) -> str:
    """The text answer to a turn of tool results."""
    return "Tool result: " + conversation.cap(conversation.first_tool_result(turn))


def choose(tools: list[dict], wanted) -> dict:
    """The named tool (a bare `{name}` when it was not offered), else the first one."""
    if isinstance(wanted, str) and wanted:
        return next((t for t in tools if t["name"] == wanted), {"name": wanted})
    return tools[0]


def given_arguments(value):
    """Decode `tool_args` (base64url of a JSON object, padding optional); None if absent/bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        args = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError):
        return None
    return args if isinstance(args, dict) else None


def render(name: str, args, form: str) -> str:
    """One `<tool_call>` block in `json`, `xml` or `fence` form."""
    if form == "xml":
        return "\n".join([OPEN, f"<function={name}>", *_xml_parameters(args), "</function>", CLOSE])
    body = json.dumps({"name": name, "arguments": args}, ensure_ascii=False)
    if form == "fence":
        body = "```json\n" + body + "\n```"
    return f"{OPEN}\n{body}\n{CLOSE}"


def _xml_parameters(args) -> list[str]:
    if not isinstance(args, dict):
        args = {"sim_unexpected": args}  # a broken call: a parameter the tool does not declare
    lines = []
    for key, value in args.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines += [f"<parameter={key}>", text, "</parameter>"]
    return lines


def _count(items: dict) -> int:
    try:
        return max(1, min(MAX_CALLS, int(items.get("tools", 1))))
    except (TypeError, ValueError):
        return 1
