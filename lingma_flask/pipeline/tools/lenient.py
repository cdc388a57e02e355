"""Read the JSON a model writes: strict first, then with its common slips forgiven.

Forgiven: single-quoted strings, trailing commas, Python's True/False/None, raw control
characters inside strings, and a Markdown code fence around the whole text. Never accepted:
NaN and Infinity (they would make the JSON we send on invalid).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ...strict_json import reject_constant

# Every scan of model text here is linear: a model answer must never cost the worker more
# than a pass or two over it (issue 13). Each regex below is a single character class, a
# fixed word, or a string body whose parts cannot overlap, so none can backtrack far.
_FENCE_INFO = re.compile(r"[\w+-]*")     # the info string after a fence's backticks ("json")
_NEXT_SLIP = re.compile(r"[\"',]|\b(?:True|False|None)\b")
_DOUBLE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)            # kept as it is
_SINGLE = re.compile(r"'([^'\\]*(?:\\.[^'\\]*)*)'", re.S)          # requoted
_TRAILING = re.compile(r",(?=\s*[}\]])")                             # dropped
_IN_SINGLE = re.compile(r"\\(.)|\"", re.S)
_PYTHON_WORDS = {"True": "true", "False": "false", "None": "null"}


def strip_fence(text: str) -> str:
    """Return the text inside a Markdown code fence that wraps it all, else the text stripped.

    The fence is three backticks, an optional info string ("json"), the body, three backticks;
    whitespace around the body is dropped. A scan, not a regex: the regex this replaces took
    cubic time on an unclosed fence followed by spaces.
    """
    text = text.strip()
    if len(text) < 6 or not (text.startswith("```") and text.endswith("```")):
        return text
    info = _FENCE_INFO.match(text, 3)   # always matches, if only the empty string
    return text[info.end() if info else 3:-3].strip()


def _strict(text: str) -> Any:
    return json.loads(text, strict=False, parse_constant=reject_constant)


def _requote(match: re.Match) -> str:
    escaped = match.group(1)
    if escaped is None:
        return '\\"'
    return "'" if escaped == "'" else match.group(0)


def forgive(text: str) -> str:
    """Return text with the slips fixed: single quotes, trailing commas, Python literals.

    Double-quoted strings are kept as they are. Read left to right, as one regex substitution
    would, but a quote that never closes is tried once: no later quote of its kind can close
    either (each one is escaped in the first one's reading), so trying each would be quadratic.
    """
    out: list[str] = []
    index, unclosed = 0, set[str]()
    while (slip := _NEXT_SLIP.search(text, index)) is not None:
        start = slip.start()
        out.append(text[index:start])
        fixed, index = _fix_slip(text, start, slip.group(), unclosed)
        out.append(fixed)
    out.append(text[index:])
    return "".join(out)


def _fix_slip(text: str, start: int, token: str, unclosed: set[str]) -> tuple[str, int]:
    """Return the replacement for the slip at start and where reading goes on."""
    if token in _PYTHON_WORDS:
        return _PYTHON_WORDS[token], start + len(token)
    if token == ",":
        return ("", start + 1) if _TRAILING.match(text, start) else (",", start + 1)
    match = None if token in unclosed else (_DOUBLE if token == '"' else _SINGLE).match(text, start)
    if match is None:
        unclosed.add(token)
        return token, start + 1
    if token == '"':
        return match.group(0), match.end()
    return '"' + _IN_SINGLE.sub(_requote, match.group(1)) + '"', match.end()


def loads(text: str) -> Any:
    """Parse JSON text leniently; raise ValueError saying what is wrong beyond the slips."""
    try:
        return _strict(text)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    except ValueError:
        fixed = forgive(text)
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
