"""Synthesize a value that validates against a JSON schema, and break one on purpose.

Rules: every required property of an object (recursively); string "sim", integer 1,
number 1.5, boolean true, array [] (or `minItems` copies of its item), object {}; `enum` →
its first value, `const` → the constant, `anyOf`/`oneOf`/`allOf` → the first branch, a type
list → its first non-null type; local `$ref`s (`#/$defs/X`, `#/definitions/X`) are followed.
"""

from __future__ import annotations

import copy
from typing import Any

_SCALARS: dict[str, Any] = {"string": "sim", "integer": 1, "number": 1.5, "boolean": True, "null": None}
_MAX_DEPTH = 20


def synthesize(schema, root=None, depth: int = 0):
    """Return a value valid against `schema` (`root` resolves `$ref`s)."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return {}
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if "const" in schema:
        return copy.deepcopy(schema["const"])
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return copy.deepcopy(schema["enum"][0])
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return synthesize(schema[key][0], root, depth + 1)
    kind = schema_type(schema)
    if kind == "object":
        return {name: synthesize(prop, root, depth + 1)
                for name, prop in required_properties(schema, root)}
    if kind == "array":
        count = schema.get("minItems") if isinstance(schema.get("minItems"), int) else 0
        return [synthesize(schema.get("items"), root, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        minimum = schema.get("minimum")
        base = _SCALARS[kind]
        return minimum if isinstance(minimum, (int, float)) and minimum > base else base
    return _SCALARS.get(kind, "sim")


def schema_type(schema: dict) -> str:
    """The schema's type (first non-null of a list; "object" when it has properties)."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    return "object" if "properties" in schema or "required" in schema else "string"


def required_properties(schema: dict, root=None) -> list[tuple[str, dict]]:
    """(name, sub-schema) of every required property, in `required` order."""
    schema = _resolve(schema, schema if root is None else root)
    props = schema.get("properties")
    props = props if isinstance(props, dict) else {}
    required = schema.get("required")
    required = required if isinstance(required, list) else []
    return [(name, props.get(name, {})) for name in required if isinstance(name, str)]


def wrong_value(schema: dict):
    """A value of the wrong type for `schema`."""
    return 1 if schema_type(schema) == "string" else "sim"


def break_object(value: dict, schema: dict, root=None):
    """Make `value` invalid: drop its first required property, else give a wrong type.

    With no properties at all the result is not an object ("sim").
    """
    required = required_properties(schema, root)
    if required and required[0][0] in value:
        return {k: v for k, v in value.items() if k != required[0][0]}
    props = _resolve(schema, schema if root is None else root).get("properties")
    if isinstance(props, dict) and props:
        name, prop = next(iter(props.items()))
        return dict(value, **{name: wrong_value(prop if isinstance(prop, dict) else {})})
    return "sim"


def _resolve(schema: dict, root: dict) -> dict:
    for _ in range(_MAX_DEPTH):
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return schema
        node: object = root
        for part in ref[2:].split("/"):
            node = node.get(part) if isinstance(node, dict) else None
        schema = node if isinstance(node, dict) else {}
    return schema
