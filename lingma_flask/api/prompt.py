"""Render OpenAI chat messages into the one prompt Lingma takes. Pure and deterministic.

Rules:
* one user message and nothing else: its text, unchanged;
* otherwise: every system/developer text first, under a `System instructions:` heading;
  then each turn in order as a `User:`, `Assistant:` or `Tool result (name/id):` block; then a
  final cue line `Assistant:`. Blocks are separated by one blank line.
* assistant tool calls become lines `Called tool NAME (ID) with arguments: ARGS`.
* content parts: text parts joined with a newline (other parts are refused by validation).
"""

from __future__ import annotations

from typing import Any

Message = dict[str, Any]

SYSTEM_ROLES = ("system", "developer")
SYSTEM_HEADING = "System instructions:"
CUE = "Assistant:"


def content_text(content: Any) -> str:
    """Return the text of a message's content (a string, a list of parts, or None)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = [part.get("text") or "" for part in content if part.get("type") == "text"]
    return "\n".join(texts)


def tool_call_lines(message: Message) -> list[str]:
    """Render an assistant message's tool calls as text lines."""
    lines = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        name = function.get("name") or "unknown"
        args = function.get("arguments") or ""
        lines.append(f"Called tool {name} ({call.get('id') or 'no id'}) with arguments: {args}")
    return lines


def message_text(message: Message) -> str:
    """Return everything a message says as plain text (content, then tool calls)."""
    parts = [content_text(message.get("content"))] + tool_call_lines(message)
    return "\n".join(part for part in parts if part)


def render_prompt(messages: list[Message]) -> str:
    """Render a conversation into one prompt."""
    if len(messages) == 1 and messages[0].get("role") == "user":
        return content_text(messages[0].get("content"))
    blocks = []
    system = [message_text(m) for m in messages if m.get("role") in SYSTEM_ROLES]
    if system:
        blocks.append(SYSTEM_HEADING + "\n" + "\n\n".join(system))
    tool_names = _tool_names(messages)
    for message in messages:
        if message.get("role") not in SYSTEM_ROLES:
            blocks.append(_label(message, tool_names) + "\n" + message_text(message))
    blocks.append(CUE)
    return "\n\n".join(blocks)


def _label(message: Message, tool_names: dict[str, str]) -> str:
    role = message.get("role")
    if role == "assistant":
        return "Assistant:"
    if role in ("tool", "function"):
        call_id = message.get("tool_call_id")
        name = message.get("name") or tool_names.get(call_id or "")
        who = "/".join(x for x in (name, call_id) if x)
        return f"Tool result ({who}):" if who else "Tool result:"
    return "User:"


def _tool_names(messages: list[Message]) -> dict[str, str]:
    """Map tool call ids to function names, so a tool result can name its tool."""
    names = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            name = (call.get("function") or {}).get("name")
            if call.get("id") and name:
                names[call["id"]] = name
    return names
