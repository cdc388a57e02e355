"""The recent responses `previous_response_id` can name: bounded, in memory, per worker process.

Each stored response keeps its whole conversation (earlier turns, its input, its answer) as
`Turn`s. Turns are shared between a response and the ones continuing it, so a chain costs a
reference per turn, not a copy. The least recently used entries go first once there are more
than `max_items` or their new text passes `max_chars`. Nothing survives a restart, and another
worker process has its own store.
"""

from __future__ import annotations

import collections
import threading

from .conversation import Turn

MAX_ITEMS = 1000
MAX_CHARS = 64 * 1024 * 1024
REFERENCE_CHARS = 8   # what one shared turn reference is counted as


class ResponseStore:
    """A thread-safe LRU of response id -> conversation."""

    def __init__(self, max_items: int = MAX_ITEMS, max_chars: int = MAX_CHARS):
        self.max_items = max_items
        self.max_chars = max_chars
        self._entries: collections.OrderedDict[str, tuple[tuple[Turn, ...], int]] = (
            collections.OrderedDict())
        self._chars = 0
        self._lock = threading.Lock()

    def put(self, response_id: str, turns: tuple[Turn, ...], shared: int = 0) -> None:
        """Keep a conversation whose first `shared` turns an earlier entry holds too."""
        size = sum(turn_chars(t) for t in turns[shared:]) + REFERENCE_CHARS * len(turns)
        with self._lock:
            self._drop(response_id)
            self._entries[response_id] = (turns, size)
            self._chars += size
            while self._entries and (len(self._entries) > self.max_items
                                     or self._chars > self.max_chars):
                self._drop(next(iter(self._entries)))

    def get(self, response_id: str) -> tuple[Turn, ...] | None:
        """Return a stored conversation (now the most recently used), or None."""
        with self._lock:
            entry = self._entries.get(response_id)
            if entry is None:
                return None
            self._entries.move_to_end(response_id)
            return entry[0]

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, response_id: str) -> None:
        entry = self._entries.pop(response_id, None)
        if entry is not None:
            self._chars -= entry[1]


def turn_chars(turn: Turn) -> int:
    """Return roughly how many characters a turn holds (text, images, call arguments)."""
    calls = sum(len(c.name) + len(str(c.arguments)) for c in turn.calls)
    return len(turn.text) + sum(len(i) for i in turn.images) + calls
