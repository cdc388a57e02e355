"""What the faces keep on the server for later requests, continued by whichever worker or host answers.

A stored response (`previous_response_id`) and an Anthropic thread's message are kept by
`Kept`: in this worker's memory first (`responses_store.SharedStore`: the worker's own
entries cost no database work), and, with the store on, shared through the database
(`store/shared.py`: queued for the writer, which writes it at once). A lookup this worker's
memory cannot answer reads the database, waiting up to one LINGMA_STORE_INTERVAL for a row
still in another worker's buffer; what it finds is then kept in memory too. A database that
cannot be read then is a 503 `store_unavailable` (Retry-After), never "not found".

Everything is scoped to the **name** of the API key (`owner()`: the same on every worker and
host; `local` without keys), and forgotten after LINGMA_STATE_TTL seconds. With LINGMA_STORE
off (or no writer running: `flask run`, tests) it is the worker's memory alone.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Generic
from typing import TypeVar

from flask import current_app

from ..store.door import APP_KEY
from ..store.door import Unavailable
from ..web.errors import ApiError
from ..web.identity import LOCAL
from ..web.identity import current_key_name
from .responses_store import SharedStore

if TYPE_CHECKING:   # the shared state is SQLAlchemy's: loaded only with the store on (store/door.py)
    from ..store.shared import SharedState

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_AFTER = "5"        # seconds a client waits before asking again during an outage
LOG_EVERY = 60.0         # seconds between two warnings about failed reads (per worker)
_last_warning = [0.0]


def owner() -> str:
    """Whose state the current request may read and write: its API key's name, or `local`."""
    return current_key_name() or LOCAL


def shared_state() -> SharedState | None:
    """The app's shared state (None with the store off)."""
    return current_app.extensions.get(APP_KEY)


@dataclasses.dataclass(frozen=True)
class Codec(Generic[T]):
    """How a kept tuple of items becomes the JSON bytes of its row, and back."""

    encode: Callable[[tuple[T, ...]], bytes]
    decode: Callable[[bytes], tuple[T, ...]]


@dataclasses.dataclass
class Kept(Generic[T]):
    """One request's view of a kind of kept state: `memory` first, `shared` behind it.

    `scope` names the kind in the database; `param` is the request field that names an entry
    (the 503's `param`); `minted` matches the names the gateway gives: any other name cannot be
    in the database, so it is answered from memory alone, with no read and no wait for a row in
    flight (a client's typo, a fuzzer's string).
    """

    memory: SharedStore[T]
    scope: str
    codec: Codec[T]
    shared: SharedState | None
    param: str
    minted: re.Pattern[str]

    @property
    def max_bytes(self) -> int:
        """The memory's cap in bytes (an entry alone over it is not kept)."""
        return self.memory.max_bytes

    def put(self, name: str, items: tuple[T, ...], owner: str) -> bool:
        """Keep `items` under `name` for `owner`, here and for every worker; False if too large."""
        ttl = self.shared.ttl if self.shared is not None else None
        if not self.memory.put(name, items, owner, ttl):
            return False
        if self.shared is not None:
            self.shared.put(self.scope, name, owner, lambda: self.codec.encode(items))
        return True

    def lookup(self, name: str, owner: str) -> tuple[T, ...] | None:
        """The items `owner` keeps under `name`: from memory, else from the database; None when
        unknown, expired or another key's. Raises a 503 ApiError when the database cannot be read."""
        found = self.memory.lookup(name, owner)
        if found is not None or self.shared is None or not self.minted.fullmatch(name):
            return found
        try:
            row = self.shared.get(self.scope, name, owner)
        except Unavailable as exc:
            raise unavailable(self.param, name, exc) from None
        if row is None:
            return None
        try:
            items = self.codec.decode(row.value)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("shared state: %s %s cannot be read back (%s); treated as unknown",
                        self.scope, name[:100], type(exc).__name__)
            return None
        self.memory.put(name, items, owner, row.ttl)   # the next lookup here is free
        return items

    def touch(self, name: str) -> None:
        """Mark an entry as just used (in this worker's memory)."""
        self.memory.touch(name)

    def discard(self, name: str) -> None:
        """Forget an entry in this worker's memory (a row in the database expires by itself)."""
        self.memory.discard(name)


def unavailable(param: str, name: str, exc: Unavailable) -> ApiError:
    """The 503 of a lookup the database could not answer (its reason goes to the log only)."""
    now = time.monotonic()
    if now - _last_warning[0] >= LOG_EVERY:
        _last_warning[0] = now
        log.warning("shared state cannot be read (%s): requests naming a response or thread"
                    " this worker does not hold get 503 store_unavailable", exc.reason)
    return ApiError(503, f"The shared store is unavailable: {param} '{name[:100]}' was not kept by"
                    " this worker, and the database that shares it between workers and hosts"
                    " cannot be read now. Retry in a few seconds.", param=param,
                    code="store_unavailable",
                    headers={"Retry-After": RETRY_AFTER, "x-should-retry": "true"})
