"""Render tools, calls, results and repair turns as prompt text, per the prompt contract.

The format is Qwen's own (Hermes style): what the Qwen models behind Lingma were trained on.
"""

from __future__ import annotations

import json
from typing import Any

from .spec import Tool
from .spec import ToolChoice

TOOLS_INTRO = (
    "# Tools\n\n"
    "You may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n"
    "<tools>\n"
)
TOOLS_OUTRO = (
    "</tools>\n\n"
    "For each function call, return a json object with function name and arguments "
    "within <tool_call></tool_call> XML tags:\n"
    "<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n'
    "</tool_call>"
)
SCHEMA_HEADING = "# Response format\n\n"
EMPTY_SCHEMA = "<response_schema>{}</response_schema>"
PROBLEM_LIMIT = 300      # characters quoted of one problem
PROBLEMS_SHOWN = 10      # problems quoted in one repair turn...
PROBLEMS_CHARS = 2000    # ...and their characters at most: an answer may hold thousands
REPAIR_CALL = (
    "Answer again. Call the function once more with arguments that fix these problems: "
    'a <tool_call></tool_call> block holding {"name": ..., "arguments": {...}} that follows '
    "the function's parameter schema."
)
REPAIR_MAYBE = (
    "Answer again. Either call the function once more with arguments that fix these problems "
    '(a <tool_call></tool_call> block holding {"name": ..., "arguments": {...}} that follows '
    "the function's parameter schema), or answer without calling a function."
)
REPAIR_JSON = (
    "Answer again with only the corrected JSON object (no prose, no code fence), "
    "fixing these problems."
)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def tool_line(tool: Tool) -> str:
    """Render one offered tool as the JSON line Qwen's template puts inside <tools>."""
    function = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
    return _dumps({"type": "function", "function": function})


def offered_tools(tools: list[Tool], choice: ToolChoice) -> list[Tool]:
    """Return the tools the prompt offers under a tool choice."""
    if choice.mode == "none":
        return []
    if choice.mode == "named":
        return [tool for tool in tools if tool.name == choice.name]
    return list(tools)


def policy_lines(choice: ToolChoice, parallel: bool) -> list[str]:
    """Return the lines that state the tool choice and the parallel-calls rule."""
    lines = []
    if choice.mode == "required":
        lines.append("You must call at least one function.")
    elif choice.mode == "named":
        lines.append(f"You must call the function {choice.name}.")
    if not parallel:
        lines.append("Call at most one function.")
    return lines


def tools_section(tools: list[Tool], choice: ToolChoice, parallel: bool) -> str:
    """Render the tools section of the system block; "" when no tool is offered.

    A named choice offers only that tool (nothing when it is not among `tools`).
    """
    offered = offered_tools(tools, choice)
    if not offered:
        return ""
    lines = "".join(tool_line(tool) + "\n" for tool in offered)
    policy = "".join("\n" + line for line in policy_lines(choice, parallel))
    return TOOLS_INTRO + lines + TOOLS_OUTRO + policy


def _arguments_value(arguments: Any) -> Any:
    """Return arguments as a JSON value: strings holding JSON are decoded, others kept as text."""
    if not isinstance(arguments, str):
        return arguments
    if not arguments.strip():
        return {}
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


def call_block(name: str, arguments: Any) -> str:
    """Render a call as the model writes it: a <tool_call> block around name and arguments.

    `arguments` is a dict, or a string as OpenAI carries it. A string that is JSON is embedded
    as its value; one that is not (a client's broken history) is embedded as a JSON string, so
    the block itself stays valid JSON. An empty string means no arguments.
    """
    payload = {"name": name, "arguments": _arguments_value(arguments)}
    return "<tool_call>\n" + _dumps(payload) + "\n</tool_call>"


def response_block(name: str | None, call_id: str | None, content: str) -> str:
    """Render a tool's result as a <tool_response> block; absent name or id are left out."""
    payload = {"name": name, "call_id": call_id, "content": content}
    payload = {key: value for key, value in payload.items() if value is not None}
    return "<tool_response>\n" + _dumps(payload) + "\n</tool_response>"


def _problem_line(problem: str) -> str:
    """Return a problem flattened to one line and capped."""
    line = " ".join(str(problem).split())
    return line[:PROBLEM_LIMIT - 3] + "..." if len(line) > PROBLEM_LIMIT else line


def _problem_lines(problems: list[str]) -> str:
    """Return the first problems one per line, capped in number and size, then how many remain."""
    lines: list[str] = []
    size = 0
    for problem in problems[:PROBLEMS_SHOWN]:
        line = _problem_line(problem)
        if lines and size + len(line) > PROBLEMS_CHARS:
            break
        lines.append(line)
        size += len(line) + 1
    left = len(problems) - len(lines)
    if left:
        lines.append(f"... and {left} more problem{'s' if left > 1 else ''} not listed")
    return "\n".join(lines)


def repair_text(problems: list[str], *, require_call: bool) -> str:
    """Render the user turn that asks the model to fix failed calls."""
    instruction = REPAIR_CALL if require_call else REPAIR_MAYBE
    return f"<tool_call_error>\n{_problem_lines(problems)}\n</tool_call_error>\n{instruction}"


def schema_section(schema: dict | None) -> str:
    """Render the structured-output section of the system block (None: any JSON object)."""
    if schema is None:
        return SCHEMA_HEADING + "Answer with only a JSON object.\n" + EMPTY_SCHEMA
    return (
        SCHEMA_HEADING
        + "Answer with only a JSON object (no prose, no code fence) that validates against "
          "this JSON schema:\n"
        + "<response_schema>\n" + _dumps(schema) + "\n</response_schema>"
    )


def json_repair_text(problems: list[str]) -> str:
    """Render the user turn that asks the model to fix a structured-output answer."""
    return f"<json_error>\n{_problem_lines(problems)}\n</json_error>\n{REPAIR_JSON}"
