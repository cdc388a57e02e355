"""Structured-output answers: a JSON object built from the prompt's `<response_schema>`.

An empty schema (`{}`, or an object without properties) gets `{"answer": <last user turn>}`.
`json_invalid` makes the first answer invalid (a required property missing, or prose when
nothing is required) until the repair turn (`<json_error>`); `json_fence` wraps the object in
a json code fence.
"""

from __future__ import annotations

import json

from . import conversation
from . import schema_fill

NOT_JSON = "Sure! Here is the JSON you asked for."


def json_answer(schema: dict, items: dict, turn: str) -> str:
    """The answer text for a structured-output prompt."""
    if _is_empty(schema):
        value = {"answer": conversation.cap(turn)}
    else:
        value = schema_fill.synthesize(schema)
    if conversation.breaks_now(items.get("json_invalid"), turn, "json_error"):
        required = schema_fill.required_properties(schema)
        if not (required and isinstance(value, dict) and required[0][0] in value):
            return NOT_JSON
        value = {k: v for k, v in value.items() if k != required[0][0]}
    text = json.dumps(value, ensure_ascii=False)
    return "```json\n" + text + "\n```" if "json_fence" in items else text


def _is_empty(schema: dict) -> bool:
    keys = set(schema) - {"type", "title", "description", "$schema", "additionalProperties"}
    return not keys and schema.get("type", "object") == "object"
