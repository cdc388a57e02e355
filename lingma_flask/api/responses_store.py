"""The recent responses `previous_response_id` can name: bounded, in this worker's memory.

Each stored response keeps its whole conversation (earlier turns, its input, its answer) as
`Turn`s, and the name of the API key that created it (`state.owner`): another key is told
the id does not exist. Turns are shared between a response and the ones continuing
it, so each turn is counted by reference: its bytes are charged when the first entry takes it
and released when the last one holding it goes, whichever entry that is. The total is thus the
bytes of the distinct turns stored (their strings as Python holds them: an astral character is
4 bytes) plus each entry's own overhead. The least recently used entries go first once there
are more than `max_items` or more than `max_bytes`; an entry that alone passes `max_bytes` is
not kept. An entry given a `ttl` is forgotten after that many seconds.

This is a worker's memory only: with the store on, `state.Kept` also shares each entry through
the database (as the JSON of `turns_json`, read back by `turns_from_json`), so that every
worker and host can continue it. The machinery is `SharedStore`, generic over what an entry
holds and how its bytes are measured; `ResponseStore` holds Turns, and the Anthropic face's
message threads keep their messages' JSON texts in another one (`anthropic_threads.py`).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Generic
from typing import TypeVar

from ..pipeline.conversation import PastCall
from ..pipeline.conversation import Turn

MAX_ITEMS = 1000
MAX_BYTES = 64 * 1024 * 1024
TURN_OVERHEAD = 300    # a Turn object and its row in the reference table (measured: ~280)
ENTRY_OVERHEAD = 400   # an entry object, its id, its LRU node, its tuple (plus 8 per turn)
REF_BYTES = 8          # one reference in an entry's tuple of turns

T = TypeVar("T")


@dataclasses.dataclass
class _Entry(Generic[T]):
    owner: str
    turns: tuple[T, ...]
    size: int          # the entry's own bytes; its turns are charged in the reference table
    expires: float | None = None   # monotonic time it is forgotten at; None: kept until evicted


@dataclasses.dataclass
class _Held(Generic[T]):
    turn: T
    refs: int
    size: int


class SharedStore(Generic[T]):
    """A thread-safe LRU of id -> (owner, items), bounded in items and bytes; an item shared
    by several entries (the same object) is charged once, `size_of(item)` bytes."""

    def __init__(self, size_of: Callable[[T], int], max_items: int = MAX_ITEMS,
                 max_bytes: int = MAX_BYTES):
        self.size_of = size_of
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._entries: collections.OrderedDict[str, _Entry[T]] = collections.OrderedDict()
        self._held: dict[int, _Held[T]] = {}   # id(turn) -> the turn, its references, its bytes
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        """The bytes charged now: every distinct stored turn once, plus each entry's own."""
        return self._bytes

    def put(self, response_id: str, turns: tuple[T, ...], owner: str = "",
            ttl: float | None = None) -> bool:
        """Keep a conversation (most recent first to stay), for `ttl` seconds if given; False if
        alone it passes the cap."""
        own = ENTRY_OVERHEAD + REF_BYTES * len(turns)
        with self._lock:
            sizes = {id(t): self._size_of(t) for t in turns}
            if own + sum(sizes.values()) > self.max_bytes:
                return False
            for turn in turns:   # taken before the old entry is let go: shared turns stay put
                self._take(turn, sizes[id(turn)])
            self._drop(response_id)
            expires = None if ttl is None else time.monotonic() + ttl
            self._entries[response_id] = _Entry(owner, turns, own, expires)
            self._bytes += own
            while len(self._entries) > self.max_items or self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))
            return True

    def lookup(self, response_id: str, owner: str = "") -> tuple[T, ...] | None:
        """Return the conversation `owner` stored under this id, or None; nothing is refreshed."""
        with self._lock:
            entry = self._entries.get(response_id)
            if entry is not None and entry.expires is not None and time.monotonic() >= entry.expires:
                self._drop(response_id)
                entry = None
        if entry is None or entry.owner != owner:
            return None
        return entry.turns

    def touch(self, response_id: str) -> None:
        """Mark an entry as just used (call once the request that used it has succeeded)."""
        with self._lock:
            if response_id in self._entries:
                self._entries.move_to_end(response_id)

    def discard(self, response_id: str) -> None:
        """Forget an entry now (nothing happens if it is gone already)."""
        with self._lock:
            self._drop(response_id)

    def __len__(self) -> int:
        return len(self._entries)

    def _size_of(self, turn: T) -> int:
        held = self._held.get(id(turn))
        return held.size if held is not None else self.size_of(turn)

    def _take(self, turn: T, size: int) -> None:
        held = self._held.get(id(turn))
        if held is None:
            self._held[id(turn)] = _Held(turn, 1, size)
            self._bytes += size
        else:
            held.refs += 1

    def _let_go(self, turn: T) -> None:
        held = self._held[id(turn)]
        held.refs -= 1
        if held.refs == 0:
            del self._held[id(turn)]
            self._bytes -= held.size

    def _drop(self, response_id: str) -> None:
        entry = self._entries.pop(response_id, None)
        if entry is None:
            return
        self._bytes -= entry.size
        for turn in entry.turns:
            self._let_go(turn)


class ResponseStore(SharedStore[Turn]):
    """The recent responses: response id -> (owner, conversation as Turns)."""

    def __init__(self, max_items: int = MAX_ITEMS, max_bytes: int = MAX_BYTES):
        super().__init__(turn_bytes, max_items, max_bytes)


def turn_bytes(turn: Turn) -> int:
    """Return the bytes a stored turn holds: its strings (text, images, calls) and overhead."""
    calls = sum(str_bytes(c.id) + str_bytes(c.name) + value_bytes(c.arguments) + TURN_OVERHEAD
                for c in turn.calls)
    return (TURN_OVERHEAD + str_bytes(turn.text) + sum(str_bytes(i) for i in turn.images)
            + str_bytes(turn.call_id) + str_bytes(turn.name) + calls)


def str_bytes(text: str | None) -> int:
    """Return what a string takes in memory (1, 2 or 4 bytes a character, by its widest)."""
    return 0 if text is None else sys.getsizeof(text)


def value_bytes(value: object) -> int:
    """Return the bytes of call arguments: a string as held, anything else as its JSON text."""
    if isinstance(value, str):
        return str_bytes(value)
    return str_bytes(json.dumps(value, ensure_ascii=False, default=str))


def turns_json(turns: tuple[Turn, ...]) -> bytes:
    """Return a conversation as the JSON text shared through the database: a list of turns."""
    return json.dumps([turn_dict(turn) for turn in turns], ensure_ascii=False,
                      separators=(",", ":"), default=str).encode()


def turn_dict(turn: Turn) -> dict:
    """Return one turn as a JSON object, leaving out what it does not have."""
    out: dict = {"role": turn.role, "text": turn.text}
    if turn.images:
        out["images"] = list(turn.images)
    if turn.calls:
        out["calls"] = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in turn.calls]
    if turn.call_id is not None:
        out["call_id"] = turn.call_id
    if turn.name is not None:
        out["name"] = turn.name
    return out


def turns_from_json(value: bytes) -> tuple[Turn, ...]:
    """Read `turns_json`'s text back into turns (raises ValueError, KeyError or TypeError)."""
    return tuple(Turn(t["role"], t.get("text", ""), tuple(t.get("images", ())),
                      tuple(PastCall(c.get("id"), c["name"], c.get("arguments", ""))
                            for c in t.get("calls", ())),
                      t.get("call_id"), t.get("name"))
                 for t in json.loads(value))
