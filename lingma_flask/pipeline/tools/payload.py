"""Read the inside of one tool-call block: Qwen JSON (plain, fenced, lenient) or Qwen3-Coder XML."""

from __future__ import annotations

import re
from typing import Any

from .lenient import loads
from .lenient import loads_run
from .lenient import strip_fence
from .pieces import Broken
from .pieces import Call
from .pieces import Piece
from .xmlcall import functions
from .xmlcall import parameters

OPENERS = re.compile(r"(?:<tool_call>\s*)*")   # a tag starts with "<", so nothing to backtrack
NOT_A_CALL = 'a tool call must be a JSON object like {"name": ..., "arguments": {...}}'


def decode_block(raw: str, body: str) -> list[Piece]:
    """Return the calls one block holds, or a single Broken piece saying why it holds none."""
    text = body.strip()
    openers = OPENERS.match(text)   # stray repeated openers; always matches, if only ""
    text = text[openers.end():] if openers else text
    if not text:
        return [Broken(raw, "the tool call block is empty")]
    if text.startswith("<"):
        return decode_xml(raw, text)
    return decode_json(raw, text)


def decode_xml(raw: str, text: str) -> list[Piece]:
    """Read Qwen3-Coder calls: <function=NAME><parameter=P>value</parameter>...</function>."""
    calls: list[Piece] = []
    for name, body in functions(text):
        calls.append(Call(raw, name or None, parameters(body), style="xml"))
    return calls or [Broken(raw, "no <function=...> found in the tool call block")]


def decode_json(raw: str, text: str) -> list[Piece]:
    """Read Qwen JSON calls: one object, a list of objects, or objects one after another."""
    text = strip_fence(text)
    try:
        value = loads(text)
    except ValueError as error:
        value = loads_run(text)
        if value is None:
            return [Broken(raw, f"the tool call is not valid JSON: {error}")]
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, dict) for item in items):
        return [Broken(raw, NOT_A_CALL)]
    return [call_from(raw, item) for item in items]


def call_from(raw: str, item: dict) -> Call:
    """Build a Call from one JSON object, also accepting OpenAI's {"function": {...}} shape."""
    if isinstance(item.get("function"), dict):
        item = item["function"]
    name = item.get("name")
    if not isinstance(name, str) and isinstance(item.get("function"), str):
        name = item["function"]
    name = name.strip() if isinstance(name, str) and name.strip() else None
    arguments = item.get("arguments", item.get("parameters", {}))
    if isinstance(arguments, str):
        arguments = decode_arguments(arguments)
    return Call(raw, name, arguments)


def decode_arguments(text: str) -> Any:
    """Decode arguments given as a string: JSON inside is returned parsed, other text as is."""
    if not text.strip():
        return {}
    try:
        return loads(strip_fence(text))
    except ValueError:
        return text
