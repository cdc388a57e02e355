"""Compact JSON text for the hot path, from one C encoder made once instead of one per call.

`json.dumps` with any option (here `ensure_ascii=False` and compact separators) builds a
`JSONEncoder` and then a C encoder on every call: over half the ~3.5 µs a stream chunk's
payload takes, and a chat encodes some twenty (its Lingma messages, its SSE events). The
output is exactly `json.dumps(value, ensure_ascii=False, separators=(",", ":"))`'s.
Without the check for circular containers: what is encoded here is built by the gateway, and
a cycle would end in a RecursionError instead of a ValueError.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as _stdlib

# json's own JSON string literal (C when available), e.g. '"a\\nb"'; non-ASCII kept as is
string: Callable[[str], str] = _stdlib.encode_basestring


def _refuse(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# (markers, default, encode a str, indent, key separator, item separator, sort_keys, skipkeys,
#  allow_nan): json.dumps's arguments, in the C encoder's order; None without json's C speedups
_make = getattr(_stdlib, "c_make_encoder", None)


def encoder(item_separator: str = ",", key_separator: str = ":",
            default: Callable[[object], object] = _refuse) -> Callable[[object], str]:
    """A function giving `json.dumps(value, ensure_ascii=False, separators=..., default=...)`."""
    if _make is None:
        return lambda value: json.dumps(value, ensure_ascii=False, default=default,
                                        separators=(item_separator, key_separator))
    chunks = _make(None, default, string, None, key_separator, item_separator, False, False, True)
    return lambda value: "".join(chunks(value, 0))


_compact = encoder()


def compact(value: object) -> str:
    """JSON text of `value`: no spaces, non-ASCII kept (`{"a":"é"}`)."""
    return _compact(value)


# json's own scanner (C when available) with `json.loads`'s settings (an instance attribute
# that typeshed does not list)
_scan: Callable[[str, int], tuple[object, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def parse(text: str) -> object:
    """`json.loads(text)`, without its three Python layers for the usual case.

    The scanner reads one value from the first character; when that value is the whole text
    it is what `json.loads` returns. Anything else (leading or trailing whitespace, more
    data, an error) goes through `json.loads` itself, for its exact result or error.
    """
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)
