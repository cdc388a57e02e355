"""Calls written without `<tool_call>` tags, read when the tool choice demands a call.

Under `required` (or a named tool) an answer with no call block may still be one: a fenced or
bare `{"name": ..., "arguments": {...}}` (OpenAI's `{"type": "function", "function": {...}}`
too), or, when exactly one tool can be called, a bare JSON object that is valid arguments for
it (clients that use a forced tool for structured output: LangChain, litellm, llama-index).
The JSON is found as `nearjson.extract` finds it, in linear time; validation still decides.
"""

from __future__ import annotations

from typing import Any

from .budget import Budget
from .check import check_call
from .nearjson import extract
from .payload import call_from
from .pieces import Call
from .spec import Tool

CALL_KEYS = frozenset({"name", "arguments", "parameters", "type", "id", "function"})


def untagged_call(text: str, offered: dict[str, Tool], forced: Tool | None,
                  budget: Budget | None = None) -> Call | None:
    """Return the call an answer without call blocks writes as plain JSON, or None.

    `forced` is the one tool the answer must call (tool choice named, or required with one
    tool offered): a JSON object that validates as its arguments is taken as its call.
    """
    if "{" not in text:
        return None
    try:
        value = extract(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    shaped = call_shaped(value, text)
    if shaped is not None and (shaped.name in offered or forced is None):
        return shaped
    if forced is not None:
        as_arguments = Call(text, forced.name, value)
        if check_call(as_arguments, {forced.name: forced}, budget)[1] is None:
            return as_arguments
    return shaped


def call_shaped(value: dict[str, Any], raw: str = "") -> Call | None:
    """Return the call a `{"name", "arguments"}` object (or OpenAI's function shape) holds, or None."""
    item = value["function"] if isinstance(value.get("function"), dict) else value
    if not set(value) <= CALL_KEYS or not set(item) <= CALL_KEYS:
        return None
    if not isinstance(item.get("name"), str) or not ("arguments" in item or "parameters" in item):
        return None
    call = call_from(raw, value)
    return call if call.name is not None else None
