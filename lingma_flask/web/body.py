"""Decode a request body into a JSON object at a bounded, small cost, whatever the body holds.

A body under the size limit can still be hostile: millions of tiny arrays (hundreds of MB once
decoded), nesting deep enough to blow the parser's recursion, lone UTF-16 surrogates that
break every later encode. Before `json.loads` runs, one pass of C-speed regex and byte
counting over the raw bytes (strings blanked out) bounds the number of objects, arrays and
items and the nesting depth; after it, lone surrogates become U+FFFD. Pure: no I/O.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from ..strict_json import reject_constant
from .errors import ApiError

MAX_DEPTH = 64                # objects/arrays inside each other
MAX_CONTAINERS = 200_000      # objects + arrays in one body
MAX_ITEMS = 1_000_000         # array items + object members (commas) in one body
MAX_STRINGS = 500_000         # strings (keys included) in one body

_STRING = re.compile(rb'"[^"]*"')  # once escapes are gone, a string is quote, non-quotes, quote
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def decode_json(raw: bytes) -> dict[str, Any]:
    """Return the body's JSON object, or raise a 400 ApiError saying what is wrong with it."""
    check_shape(raw)
    try:
        data = json.loads(raw, parse_constant=reject_constant, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise invalid(f"it nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise invalid(str(exc)) from None
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_request")
    if _SURROGATE_ESCAPE.search(raw):
        data = replace_surrogates(data)
    return data


def check_shape(raw: bytes) -> None:
    """Refuse bodies whose structure alone is too big to decode cheaply (all C-speed passes)."""
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")  # every quote left delimits
    if unescaped.count(b'"') > 2 * MAX_STRINGS:
        raise invalid(f"it holds more than {MAX_STRINGS} strings")
    skeleton = _STRING.sub(b"", unescaped)
    if skeleton.count(b"{") + skeleton.count(b"[") > MAX_CONTAINERS:
        raise invalid(f"it holds more than {MAX_CONTAINERS} objects and arrays")
    if skeleton.count(b",") > MAX_ITEMS:
        raise invalid(f"it holds more than {MAX_ITEMS} items")
    brackets = skeleton.translate(None, _NOT_BRACKETS)
    if brackets and max(itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets))) > MAX_DEPTH:
        raise invalid(f"it nests deeper than {MAX_DEPTH} levels")


def invalid(reason: str) -> ApiError:
    """Build the 400 for a body that is not acceptable JSON."""
    return ApiError(400, f"The request body is not valid JSON: {reason}.", code="invalid_json")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key[:60]!r}")
            seen.add(key)
    return result


def replace_surrogates(value: Any) -> Any:
    """Return `value` with every lone UTF-16 surrogate in its strings replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [replace_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {replace_surrogates(k): replace_surrogates(v) for k, v in value.items()}
    return value
