"""Read the gateway's prompt contract: the last user turn, offered tools, the response schema.

The gateway renders a whole conversation into one prompt: a single user message as it is, or
blocks separated by blank lines (`System instructions:`, `User:`, `Assistant:` turns) ending
with an `Assistant:` cue. Tools are offered in a `<tools>` block, one JSON object per line;
tool results come back as `<tool_response>` blocks in a `User:` turn; repair turns hold a
`<tool_call_error>` or `<json_error>` block.
"""

from __future__ import annotations

import json
import re

USER_TURN = "\n\nUser:\n"
CUE = "\n\nAssistant:"
CAP = 200
ELLIPSIS = "…"

# the block starts a line; the contract's own prose mentions an empty "<tools></tools>" first
_TOOLS_RE = re.compile(r"<tools>[ \t]*\n(.*?)</tools>", re.S)
_SCHEMA_RE = re.compile(r"<response_schema>(.*?)</response_schema>", re.S)
_RESPONSE_RE = re.compile(r"<tool_response>(.*?)</tool_response>", re.S)
# the tool choice's policy line after the tools block (`required`, or a named function)
_MUST_CALL_RE = re.compile(r"^You must call (?:at least one function|the function .+)\.$", re.M)


def last_user_turn(prompt: str) -> str:
    """The text of the last `User:` turn (stripped), or the whole prompt for a lone message."""
    start = prompt.rfind(USER_TURN)
    if start < 0:
        return prompt.strip()
    turn = prompt[start + len(USER_TURN):].rstrip()
    if turn.endswith(CUE):
        turn = turn[:-len(CUE)]
    return turn.strip()


def cap(text: str, limit: int = CAP) -> str:
    """At most `limit` characters; a cut text ends with an ellipsis."""
    return text if len(text) <= limit else text[:limit] + ELLIPSIS


def offered_tools(prompt: str) -> list[dict]:
    """The `function` objects of the `<tools>` block (empty when there is none)."""
    match = _TOOLS_RE.search(prompt)
    if match is None:
        return []
    tools = []
    for line in match.group(1).splitlines():
        entry = _json(line.strip())
        if isinstance(entry, dict):
            function = entry.get("function")
            function = function if isinstance(function, dict) else entry
            if isinstance(function.get("name"), str):
                tools.append(function)
    return tools


def call_required(prompt: str) -> bool:
    """True when the tools section says a call is a must (tool_choice `required` or named)."""
    match = _TOOLS_RE.search(prompt)
    if match is None:
        return False
    section = prompt[match.end():].split(USER_TURN, 1)[0]
    return _MUST_CALL_RE.search(section) is not None


def response_schema(prompt: str):
    """The JSON schema of the `<response_schema>` block, `{}` if unreadable, None if absent."""
    match = _SCHEMA_RE.search(prompt)
    if match is None:
        return None
    schema = _json(match.group(1).strip())
    return schema if isinstance(schema, dict) else {}


def is_tool_results(turn: str) -> bool:
    """True when the turn consists of `<tool_response>` blocks (not the user's own text)."""
    return turn.startswith("<tool_response>") and not _RESPONSE_RE.sub("", turn).strip()


def first_tool_result(turn: str) -> str:
    """The content of the turn's first `<tool_response>` (its JSON `content`, else the raw text)."""
    match = _RESPONSE_RE.search(turn)
    if match is None:
        return ""
    raw = match.group(1).strip()
    block = _json(raw)
    if isinstance(block, dict) and "content" in block:
        content = block["content"]
        return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    return raw


def has_block(turn: str, tag: str) -> bool:
    """True when the turn holds a `<tag>` … `</tag>` block."""
    return f"<{tag}>" in turn and f"</{tag}>" in turn


def is_repair_turn(turn: str) -> bool:
    """True when the turn is the gateway's repair turn (a `<tool_call_error>` or `<json_error>`)."""
    return has_block(turn, "tool_call_error") or has_block(turn, "json_error")


def breaks_now(marker, turn: str, repair_tag: str) -> bool:
    """True when a `*_invalid` marker breaks this answer: `always`, or before the repair turn."""
    return bool(marker) and (marker == "always" or not has_block(turn, repair_tag))


def _json(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None
