"""A least-recently-used map bounded both by its number of entries and by their total size."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SizedLRU(Generic[K, V]):
    """Keeps the most recently used entries while their count and summed sizes fit the limits.

    The limits are given on each `put`, so a module constant read at call time (and patched
    by a test) applies at once. An entry larger than the size limit is never kept.
    """

    def __init__(self) -> None:
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.total = 0

    def get(self, key: K) -> V | None:
        """Return the value kept for key (now the most recently used), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V, size: int, *, max_entries: int, max_size: int) -> bool:
        """Keep value under key, evicting the least recently used; False if it is too large."""
        if size > max_size:
            return False
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.total -= old[1]
            self._entries[key] = (value, size)
            self.total += size
            while len(self._entries) > max_entries or self.total > max_size:
                _, (_, dropped) = self._entries.popitem(last=False)
                self.total -= dropped
        return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
            self.total = 0
