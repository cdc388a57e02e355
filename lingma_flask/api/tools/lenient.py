"""Read the JSON a model writes: strict first, then with its common slips forgiven.

Forgiven: single-quoted strings, trailing commas, Python's True/False/None, raw control
characters inside strings, and a Markdown code fence around the whole text. Never accepted:
NaN and Infinity (they would make the JSON we send on invalid).
"""

from __future__ import annotations

import json
import re
from typing import Any

FENCE = re.compile(r"```[\w+-]*[ \t]*\n?(.*?)\n?[ \t]*```", re.S)
_SLIPS = re.compile(
    r'"[^"\\]*(?:\\.[^"\\]*)*"'           # a double-quoted string: kept as it is
    r"|'([^'\\]*(?:\\.[^'\\]*)*)'"        # a single-quoted string: requoted
    r"|,(?=\s*[}\]])"                     # a trailing comma: dropped
    r"|\b(?:True|False|None)\b",          # a Python literal: spelled the JSON way
    re.S,
)
_IN_SINGLE = re.compile(r"\\(.)|\"", re.S)
_PYTHON_WORDS = {"True": "true", "False": "false", "None": "null"}


def strip_fence(text: str) -> str:
    """Return the text inside a Markdown code fence that wraps it all, else the text stripped."""
    text = text.strip()
    match = FENCE.fullmatch(text)
    return match.group(1).strip() if match else text


def reject_constant(name: str) -> None:
    """Refuse NaN and Infinity, which Python's json module would otherwise accept."""
    raise ValueError(f"{name} is not valid JSON")


def _strict(text: str) -> Any:
    return json.loads(text, strict=False, parse_constant=reject_constant)


def _requote(match: re.Match) -> str:
    escaped = match.group(1)
    if escaped is None:
        return '\\"'
    return "'" if escaped == "'" else match.group(0)


def _forgive(match: re.Match) -> str:
    token = match.group(0)
    if token[0] == '"':
        return token
    if token[0] == "'":
        return '"' + _IN_SINGLE.sub(_requote, match.group(1)) + '"'
    if token == ",":
        return ""
    return _PYTHON_WORDS[token]


def loads(text: str) -> Any:
    """Parse JSON text leniently; raise ValueError saying what is wrong beyond the slips."""
    try:
        return _strict(text)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    except ValueError:
        fixed = _SLIPS.sub(_forgive, text)
        if fixed == text:
            raise
    try:
        return _strict(fixed)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def loads_run(text: str) -> list[Any] | None:
    """Return the JSON values written one after another in text, or None if it is not that."""
    decoder = json.JSONDecoder(strict=False, parse_constant=reject_constant)
    values, index = [], 0
    try:
        while index < len(text):
            value, index = decoder.raw_decode(text, index)
            values.append(value)
            while index < len(text) and text[index] in " \t\r\n,":
                index += 1
    except (ValueError, RecursionError):
        return None
    return values if len(values) > 1 else None


def depth(value: Any, limit: int) -> int:
    """Return how deeply lists and dicts nest in a value, counting no further than limit + 1."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if not isinstance(item, (dict, list)):
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, level + 1) for child in children)
    return deepest
