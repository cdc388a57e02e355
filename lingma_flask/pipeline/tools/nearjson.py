"""Near-contract JSON: the one JSON value a model wrapped in prose, and scalars coerced to a schema.

Models asked for bare JSON often wrap it: "Sure! Here it is:\\n```json{…}```", "Here is the
JSON: {…}", a fence followed by prose. `extract` reads the whole text first, then the body of
its first code fence, then the text from the first `{` (or `[`) as one JSON value with what
follows ignored, then that bracket up to the last closing one, leniently. Each step is one
linear pass (a `find`, an `rfind`, one JSON decode), so any text costs a few passes at most.

`coerce` turns a scalar the schema does not allow where it stands into the type the schema
wants there, when the text says so unambiguously ("36" -> 36 for an integer, "true" -> true,
"3.5" -> 3.5, 5 -> "5" for a string). It never decides: the coerced value is validated again.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ...strict_json import reject_constant
from .coerce import INTEGER
from .coerce import REF_DEPTH
from .coerce import branches
from .coerce import json_type
from .coerce import schema_types
from .lenient import loads
from .lenient import strip_fence

FENCE = "```"
FENCE_INFO = re.compile(r"[\w+-]*")   # "json" after the backticks; one class: no backtracking
CLOSERS = {"{": "}", "[": "]"}
MAX_LEVELS = 64          # nesting coerce walks into (deeper values are left as they are)


def extract(text: str, opener: str = "{") -> Any:
    """Return the JSON value in text (whole, fenced, or set in prose); raise ValueError if none.

    `opener` is the bracket the wanted value starts with: `{` for an object, `[` for an array.
    """
    try:
        return loads(strip_fence(text))
    except ValueError as error:
        first = error
    fenced = fence_body(text)
    if fenced is not None:
        try:
            return loads(fenced)
        except ValueError:
            pass
    value = bracketed(text, opener)
    if value is _NOTHING:
        raise first
    return value


def fence_body(text: str) -> str | None:
    """Return the body of the first complete code fence in text, or None when there is none."""
    start = text.find(FENCE)
    if start == -1:
        return None
    info = FENCE_INFO.match(text, start + len(FENCE))   # always matches, if only ""
    body = info.end() if info else start + len(FENCE)
    end = text.find(FENCE, body)
    return None if end == -1 else text[body:end].strip()


_NOTHING = object()


def bracketed(text: str, opener: str) -> Any:
    """Return the JSON value starting at the first `opener`, or _NOTHING.

    Read strictly up to where the value ends (prose after it is ignored); failing that, the
    span up to the last closing bracket, leniently (single quotes, trailing commas...).
    """
    start = text.find(opener)
    if start == -1:
        return _NOTHING
    decoder = json.JSONDecoder(strict=False, parse_constant=reject_constant)
    try:
        return decoder.raw_decode(text, start)[0]
    except (ValueError, RecursionError):
        pass
    end = text.rfind(CLOSERS[opener])
    if end <= start:
        return _NOTHING
    try:
        return loads(text[start:end + 1])
    except ValueError:
        return _NOTHING


# -- coercion toward a schema --------------------------------------------------------------

def coerce(value: Any, schema: Any) -> Any:
    """Return value with each scalar the schema does not allow where it stands converted to the
    type wanted there, when that is unambiguous; everything else is kept as it is."""
    return _Coercer(schema).value(value, schema, 0)


class _Coercer:
    """One walk of a value beside its schema; each schema node's facts are worked out once."""

    def __init__(self, root: Any):
        self.root = root
        self._types: dict[int, set[str]] = {}
        self._parts: dict[int, list[dict]] = {}

    def value(self, value: Any, schema: Any, level: int) -> Any:
        if not isinstance(schema, dict) or level > MAX_LEVELS:
            return value
        if isinstance(value, dict):
            return {name: self.value(item, self.property_schema(schema, name), level + 1)
                    for name, item in value.items()}
        if isinstance(value, list):
            return [self.value(item, self.item_schema(schema, index), level + 1)
                    for index, item in enumerate(value)]
        return scalar(value, self.types(schema))

    def types(self, schema: dict) -> set[str]:
        key = id(schema)
        if key not in self._types:
            self._types[key] = schema_types(schema, self.root)
        return self._types[key]

    def parts(self, schema: dict) -> list[dict]:
        """The schema and the subschemas it stands for: its local $ref, allOf/anyOf/oneOf."""
        key = id(schema)
        if key not in self._parts:
            found, seen, layer = [], set(), [schema]
            for _ in range(REF_DEPTH + 1):
                following = []
                for node in layer:
                    if not isinstance(node, dict) or id(node) in seen:
                        continue
                    seen.add(id(node))
                    found.append(node)
                    following.extend(branches(node, self.root))
                layer = following
            self._parts[key] = found
        return self._parts[key]

    def property_schema(self, schema: dict, name: str) -> Any:
        for part in self.parts(schema):
            properties = part.get("properties")
            if isinstance(properties, dict) and isinstance(properties.get(name), dict):
                return properties[name]
        for part in self.parts(schema):
            extra = part.get("additionalProperties")
            if isinstance(extra, dict):
                return extra
        return None

    def item_schema(self, schema: dict, index: int) -> Any:
        for part in self.parts(schema):
            prefix = part.get("prefixItems")
            if isinstance(prefix, list) and index < len(prefix):
                return prefix[index]
            items = part.get("items")
            if isinstance(items, dict):
                return items
        return None


def scalar(value: Any, types: set[str]) -> Any:
    """Return a scalar converted to an allowed type when it has none of them and says one."""
    kind = json_type(value)
    if not types or kind is None or kind in types or (kind == "number" and _fits_number(value, types)):
        return value
    if isinstance(value, str):
        return _from_text(value.strip(), types, value)
    if "string" in types and kind in ("number", "boolean"):
        return json.dumps(value)   # 5 -> "5", 3.5 -> "3.5", true -> "true"
    return value


def _fits_number(value: Any, types: set[str]) -> bool:
    """Tell whether a number already meets the schema's own number types."""
    return "integer" in types and (isinstance(value, int) or float(value).is_integer())


def _from_text(text: str, types: set[str], original: str) -> Any:
    if "integer" in types and INTEGER.fullmatch(text):
        return int(text)
    if "number" in types or "integer" in types:
        number = _number(text)
        if number is not None and ("number" in types or float(number).is_integer()):
            return number if "number" in types else int(number)
    if "boolean" in types and text in ("true", "false"):
        return text == "true"
    if "null" in types and text == "null":
        return None
    return original


def _number(text: str) -> int | float | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return value if abs(value) != float("inf") else None
