"""Type the raw text values of Qwen3-Coder XML calls by the tool's JSON Schema.

A value becomes the first of null, boolean, integer, number, object, array that its
schema allows and its text spells; otherwise it stays a string, with the one leading and
one trailing newline of the XML layout removed. Validation then judges the result.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .lenient import loads

INTEGER = re.compile(r"[-+]?\d+")
TYPE_ORDER = ("null", "boolean", "integer", "number", "object", "array")
REF_DEPTH = 8
_NO_VALUE = object()


def type_arguments(arguments: dict[str, str], schema: Any) -> dict[str, Any]:
    """Return the XML arguments with each value typed by its property's schema."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    properties = properties if isinstance(properties, dict) else {}
    return {
        name: type_value(value, schema_types(properties.get(name), schema))
        for name, value in arguments.items()
    }


def type_value(raw: str, types: set[str]) -> Any:
    """Return raw text as the first listed type it spells, else as a trimmed string."""
    text = raw.strip()
    for name in TYPE_ORDER:
        if name in types:
            value = _CONVERTERS[name](text)
            if value is not _NO_VALUE:
                return value
    return trim_newlines(raw)


def trim_newlines(raw: str) -> str:
    """Remove the one leading and one trailing newline that the XML layout adds."""
    if raw.startswith("\n"):
        raw = raw[1:]
    if raw.endswith("\n"):
        raw = raw[:-1]
    return raw


def schema_types(schema: Any, root: Any, level: int = 0) -> set[str]:
    """Return the JSON types a schema allows, looking through local $refs and anyOf/oneOf/allOf.

    Breadth first, each part of the schema visited once (at its shallowest level, at most
    REF_DEPTH below `schema`): shared branches cost once, however often they are reached.
    """
    types: set[str] = set()
    seen: set[int] = set()
    layer = [schema]
    while layer and level <= REF_DEPTH:
        following = []
        for node in layer:
            if not isinstance(node, dict) or id(node) in seen:
                continue
            seen.add(id(node))
            types |= _own_types(node)
            following.extend(branches(node, root))
        layer, level = following, level + 1
    return types


def _own_types(schema: dict) -> set[str]:
    if isinstance(schema.get("$ref"), str):
        return set()  # a $ref's siblings were never read: its target speaks for it
    types = _declared(schema.get("type"))
    for value in _listed_values(schema):
        types.add(json_type(value) or "string")
    return types


def branches(schema: dict, root: Any) -> list:
    """Return the subschemas a schema stands for: its local $ref's target, or its anyOf/oneOf/allOf."""
    if isinstance(schema.get("$ref"), str):
        return [local_ref(root, schema["$ref"])]
    found = []
    for key in ("anyOf", "oneOf", "allOf"):
        value = schema.get(key)
        if isinstance(value, list):
            found.extend(value)
    return found


def _declared(declared: Any) -> set[str]:
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return {name for name in declared if isinstance(name, str)}
    return set()


def _listed_values(schema: dict) -> list[Any]:
    values = list(schema["enum"]) if isinstance(schema.get("enum"), list) else []
    return values + [schema["const"]] if "const" in schema else values


_CONTAINER_TYPES: dict[type, str] = {str: "string", dict: "object", list: "array"}


def json_type(value: Any) -> str | None:
    """Return the JSON type of a decoded value (int and float are "number"); None for others."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return _CONTAINER_TYPES.get(type(value))


def local_ref(root: Any, ref: str) -> Any:
    """Return the part of the root schema a "#/a/b" reference points at (None if it does not)."""
    if not ref.startswith("#"):
        return None
    node = root
    for part in filter(None, ref[1:].split("/")):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _to_null(text: str) -> Any:
    return None if text.lower() in ("null", "none") else _NO_VALUE


def _to_boolean(text: str) -> Any:
    return {"true": True, "false": False}.get(text.lower(), _NO_VALUE)


def _to_integer(text: str) -> Any:
    if INTEGER.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # more digits than Python converts
            return _NO_VALUE
    number = _to_number(text)
    return int(number) if isinstance(number, float) and number.is_integer() else _NO_VALUE


def _to_number(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return _NO_VALUE
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return value if ok else _NO_VALUE


def _parsed(kind: type) -> Any:
    def convert(text: str) -> Any:
        try:
            value = loads(text)
        except ValueError:
            return _NO_VALUE
        return value if isinstance(value, kind) else _NO_VALUE
    return convert


_CONVERTERS = {
    "null": _to_null,
    "boolean": _to_boolean,
    "integer": _to_integer,
    "number": _to_number,
    "object": _parsed(dict),
    "array": _parsed(list),
}
