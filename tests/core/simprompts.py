"""Prompts in the gateway's contract (docs: prompt contract) for the simulator tests."""

from __future__ import annotations

import json

READ_FILE = {"name": "read_file", "description": "Read a file.", "parameters": {
    "type": "object", "required": ["path", "limit", "mode"], "properties": {
        "path": {"type": "string"}, "limit": {"type": "integer"},
        "mode": {"type": "string", "enum": ["r", "rb"]}, "lines": {"type": "array"}}}}
NO_ARGS = {"name": "now", "description": "The time.", "parameters": {"type": "object", "properties": {}}}


def tools_block(*tools) -> str:
    """The tools section: one `{"type": "function", "function": ...}` line per tool."""
    lines = [json.dumps({"type": "function", "function": t}, ensure_ascii=False) for t in tools]
    return ("# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            "<tools>\n" + "\n".join(lines) + "\n</tools>\n\nFor each function call, return ...")


def conversation_prompt(*turns, system="Be brief.", tools=(READ_FILE, NO_ARGS), schema=None) -> str:
    """A prompt in the gateway's contract: system block, turns, final cue."""
    head = "System instructions:\n" + system
    if tools:
        head += "\n\n" + tools_block(*tools)
    if schema is not None:
        head += "\n\n# Response format\n\n<response_schema>\n" + json.dumps(schema) + "\n</response_schema>"
    blocks = [head] + [f"{role}:\n{text}" for role, text in turns] + ["Assistant:"]
    return "\n\n".join(blocks)


def tool_response(content) -> str:
    """One `<tool_response>` block holding `content` as the result text."""
    body = {"name": "read_file", "call_id": "call_1", "content": content}
    return "<tool_response>\n" + json.dumps(body, ensure_ascii=False) + "\n</tool_response>"


# A structured-output schema touching every synthesis rule (types, enum, const, $ref, anyOf).
WEATHER = {"type": "object", "required": ["city", "days", "unit", "alerts", "where"],
           "properties": {"city": {"type": "string"}, "days": {"type": ["integer", "null"], "minimum": 3},
                          "unit": {"enum": ["C", "F"]}, "alerts": {"type": "array", "minItems": 1,
                                                                 "items": {"$ref": "#/$defs/Alert"}},
                          "where": {"anyOf": [{"type": "number"}, {"type": "string"}]},
                          "optional": {"type": "string"}},
           "$defs": {"Alert": {"type": "object", "required": ["level", "ok"],
                               "properties": {"level": {"const": "high"}, "ok": {"type": "boolean"}}}}}
