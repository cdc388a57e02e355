"""Bounded label values for metrics: client-chosen names must not grow the series without end."""

from __future__ import annotations

import threading
from collections.abc import Iterable

OTHER = "other"
UNMATCHED = "unmatched"


class LabelCap:
    """Map raw values to few, short label values: known names, else the first `limit` seen.

    With a known set (`know`), only its names pass (matched case-insensitively, spelled as
    known) and everything else is "other". Without one, the first `limit` distinct values pass
    and later newcomers are "other". Values are truncated to `max_len` characters either way;
    an empty value stays empty (e.g. no model asked for).
    """

    def __init__(self, limit: int, *, max_len: int = 64, known: Iterable[str] = ()):
        self.limit = limit
        self.max_len = max_len
        self._known: dict[str, str] = {}
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self.know(known)

    def know(self, names: Iterable[str]) -> None:
        """Replace the known names (an empty iterable returns to first-seen capping)."""
        known: dict[str, str] = {}
        for name in names:
            text = str(name)[:self.max_len]
            if text and len(known) < self.limit:
                known.setdefault(text.lower(), text)
        self._known = known

    def __call__(self, value: object) -> str:
        """Return the label value to record for `value`."""
        text = "" if value is None else str(value)[:self.max_len]
        if not text:
            return ""
        known = self._known
        if known:
            return known.get(text.lower(), OTHER)
        if text in self._seen:
            return text
        with self._lock:
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(text)
        return text


def route_label(rule: str | None) -> str:
    """Return the route label: the matched URL rule, or "unmatched" when no rule matched.

    Rules come from the app's code, so they are few; a raw path never becomes a label (it is
    the client's to choose and may carry secrets).
    """
    return rule or UNMATCHED


def status_label(status: int | str | None) -> str:
    """Return an HTTP status as a label: "100" to "599", else "other"."""
    if status is None:
        return OTHER
    try:
        code = int(status)
    except (TypeError, ValueError):
        return OTHER
    return str(code) if 100 <= code <= 599 else OTHER


def choice_label(value: object, allowed: frozenset[str]) -> str:
    """Return `value` if it is one of `allowed`, else "other"."""
    text = str(value)
    return text if text in allowed else OTHER
