"""`Buffer`: what the request path hands the writer: bounded, and never waited on.

Appending is a lock and a deque append. A full buffer (the database has been away for a
while, or cannot keep up) refuses the item and counts it; the writer reads the oldest items
without taking them, and discards them only once they are committed, so a failed flush loses
nothing.
"""

from __future__ import annotations

import collections
import itertools
import threading
from collections.abc import Callable
from typing import Generic
from typing import TypeVar

T = TypeVar("T")


class Buffer(Generic[T]):
    """At most `limit` items waiting to be written; `dropped` counts those refused when full."""

    def __init__(self, name: str, limit: int, on_drop: Callable[[str], object] | None = None) -> None:
        self.name = name
        self.limit = limit
        self.dropped = 0
        self.on_drop = on_drop   # called with the buffer's name for each refused item (a metric)
        self._items: collections.deque[T] = collections.deque()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def append(self, item: T) -> bool:
        """Keep `item` for the writer; when full, count it as dropped and return False."""
        with self._lock:
            if len(self._items) < self.limit:
                self._items.append(item)
                return True
            self.dropped += 1
        if self.on_drop is not None:
            self.on_drop(self.name)
        return False

    def peek(self, count: int) -> list[T]:
        """The oldest `count` items (or fewer), left in place."""
        with self._lock:
            return list(itertools.islice(self._items, count))

    def discard(self, count: int) -> None:
        """Forget the oldest `count` items: they are written."""
        with self._lock:
            for _ in range(min(count, len(self._items))):
                self._items.popleft()
