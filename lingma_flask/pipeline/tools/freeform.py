"""Custom (freeform) tools: offered to the model as a function of one string, read back as text.

The Responses API and chat completions let a client offer `custom` tools, whose input is free
text in the tool's own format rather than JSON arguments (Codex's `apply_patch` takes a patch
described by a Lark grammar). The models behind Lingma call functions, so a custom tool is
offered as a function whose one required parameter, the string `input`, carries that text. Its
description is the client's, a line saying how to pass the text, and a summary of the format
(a grammar's definition, cut to `GRAMMAR_CHARS`). A call's `input` goes back to the client as
the face's custom tool call; an earlier one is written into the prompt as `{"input": text}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from .spec import Tool
from .spec import ToolCall

INPUT = "input"
GRAMMAR_CHARS = 2000     # of a grammar's definition shown to the model; apply_patch's is ~700
PARAMETERS = {
    "type": "object",
    "properties": {INPUT: {"type": "string",
                           "description": "The tool's whole input, as text in its own format."}},
    "required": [INPUT],
    "additionalProperties": False,
}
HOW = ("This tool takes free text, not JSON arguments. Call it as a function with the one "
       f"string argument `{INPUT}` holding that whole text, exactly as the tool takes it.")


def custom_tool(name: str, description: str | None, syntax: str | None = None,
                definition: str | None = None) -> Tool:
    """Return the function offered for a custom tool (`syntax`/`definition`: its grammar)."""
    parts = [description.strip()] if description and description.strip() else []
    parts.append(HOW)
    parts.append(format_summary(syntax, definition))
    return Tool(name=name, description="\n\n".join(parts), parameters=PARAMETERS, freeform=True)


def format_summary(syntax: str | None, definition: str | None) -> str:
    """Describe the input's format: any text, or a grammar's definition (cut at a line end)."""
    if not definition:
        return f"The `{INPUT}` text is free-form."
    shown = definition
    if len(shown) > GRAMMAR_CHARS:
        cut = shown.rfind("\n", 0, GRAMMAR_CHARS)
        shown = shown[:cut if cut > 0 else GRAMMAR_CHARS] + "\n... (the rest of the grammar is left out)"
    return f"The `{INPUT}` text must follow this {syntax or 'formal'} grammar:\n{shown.rstrip()}"


def freeform_names(tools: Iterable[Tool]) -> frozenset[str]:
    """Return the names of the custom tools among offered tools."""
    return frozenset(tool.name for tool in tools if tool.freeform)


def shared_custom_name(tools: Iterable[Tool]) -> str | None:
    """Return a custom tool's name that another offered tool also has (its calls would be
    ambiguous), or None."""
    tools = list(tools)
    custom = freeform_names(tools)
    seen: set[str] = set()
    for tool in tools:
        if tool.name in seen and tool.name in custom:
            return tool.name
        seen.add(tool.name)
    return None


def call_input(call: ToolCall) -> str:
    """Return the text a checked call of a custom tool carries."""
    value = call.arguments.get(INPUT, "")
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def past_arguments(text: str) -> str:
    """Return an earlier custom tool call's input as the arguments the prompt shows."""
    return json.dumps({INPUT: text}, ensure_ascii=False)
