"""Hashable keys with JSON Schema's equality, for `uniqueItems` in linear time.

JSON Schema compares numbers by value (1 equals 1.0), never equates booleans with numbers
(true is not 1), ignores the order of an object's keys and keeps the order of an array's
items. `key(value)` maps values that are equal in that sense, and only those, to equal keys.
"""

from __future__ import annotations

from typing import Any

_NULL = ("null",)


def key(value: Any) -> Any:
    """Return a hashable key equal for exactly the JSON-equal values."""
    if value is None:
        return _NULL
    if isinstance(value, bool):  # before numbers: True == 1 in Python, not in JSON
        return ("boolean", value)
    if isinstance(value, (int, float)):
        return ("number", value)  # 1 == 1.0 and hash(1) == hash(1.0)
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, dict):
        return ("object", frozenset((name, key(item)) for name, item in value.items()))
    if isinstance(value, (list, tuple)):
        return ("array", tuple(key(item) for item in value))
    return ("other", repr(value))


def duplicate(items: list) -> tuple[int, int] | None:
    """Return the indexes of the first two JSON-equal items, or None (one pass, one key each)."""
    seen: dict[Any, int] = {}
    for index, item in enumerate(items):
        first = seen.setdefault(key(item), index)
        if first != index:
            return first, index
    return None
