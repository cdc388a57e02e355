"""`FairQueue`: chats waiting for a Lingma slot, admitted by weighted fair queuing across tenants.

A tenant is an opaque name the caller gives (the gateway passes the API key's name; None is a
tenant too). Each tenant's waiters stay in arrival order; between tenants the order is
start-time fair queuing: every chat admitted costs its tenant 1/weight of virtual time, and
the waiting tenant whose next chat starts earliest goes next (ties: the one waiting longest).
A tenant that starts waiting starts at the current virtual time, or where its own earlier
chats got to if that is later, so an idle tenant saves up no credit, and a tenant that keeps
a queue going pays for every chat it got, slots taken without waiting (`served`) included.

So one tenant's flood cannot starve another: a newcomer is admitted at the next free slot
unless the flooding tenant is behind it in virtual time, and over time each busy tenant gets
slots in proportion to its weight. Not thread-safe: the pool holds its lock around it.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from typing import Generic
from typing import TypeVar

T = TypeVar("T")
KEPT = 64   # tenants' positions remembered before the ones that no longer matter are dropped
# Virtual time counts in units of 1/TICKS of a chat, so 1/weight is a whole number of units for
# every weight the settings allow (1-100, keylimits.MAX_WEIGHT): exact, as fractions would be,
# at the price of an integer addition (a Fraction costs microseconds per chat). A larger weight
# is rounded down to whole units.
TICKS = math.lcm(*range(1, 101))


class FairQueue(Generic[T]):
    """Waiters grouped by tenant; `pop()` returns the next one in weighted fair order."""

    def __init__(self, weight: Callable[[str | None], int] = lambda tenant: 1) -> None:
        self.weight = weight
        self._waiting: dict[str | None, collections.deque[T]] = {}
        self._start: dict[str | None, int] = {}    # each waiting tenant's next start
        self._finish: dict[str | None, int] = {}   # where each tenant's chats got to
        self._now = 0   # virtual time: the start of the chat admitted last
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, tenant: str | None, item: T) -> None:
        """Queue `item` behind its tenant's earlier waiters."""
        queue = self._waiting.get(tenant)
        if queue is None:
            queue = self._waiting[tenant] = collections.deque()
            self._start[tenant] = max(self._now, self._finish.get(tenant, self._now))
        queue.append(item)
        self._size += 1

    def pop(self) -> T | None:
        """Take the next waiter in fair order (None when nobody waits)."""
        if not self._start:
            return None
        tenant = min(self._start, key=self._start.__getitem__)   # the first of equals: waiting longest
        queue = self._waiting[tenant]
        item = queue.popleft()
        self._size -= 1
        self._charge(tenant, self._start.pop(tenant))
        if queue:
            self._start[tenant] = self._finish[tenant]
        else:
            del self._waiting[tenant]
        return item

    def served(self, tenant: str | None) -> None:
        """Count a chat of `tenant` that took a slot without waiting."""
        self._charge(tenant, max(self._now, self._finish.get(tenant, self._now)))

    def remove(self, tenant: str | None, item: T) -> bool:
        """Take `item` out of the queue (it gave up); return whether it was there."""
        queue = self._waiting.get(tenant)
        if queue is None:
            return False
        try:
            queue.remove(item)
        except ValueError:
            return False
        self._size -= 1
        if not queue:
            del self._waiting[tenant]
            del self._start[tenant]
        return True

    def items(self) -> list[T]:
        """Every waiter, tenant by tenant."""
        return [item for queue in self._waiting.values() for item in queue]

    def counts(self) -> dict[str | None, int]:
        """How many wait, per tenant."""
        return {tenant: len(queue) for tenant, queue in self._waiting.items()}

    def _charge(self, tenant: str | None, start: int) -> None:
        self._now = max(self._now, start)
        self._finish[tenant] = start + TICKS // max(1, int(self.weight(tenant)))
        if len(self._finish) > KEPT:   # a position at or before now changes nothing: forget it
            self._finish = {t: f for t, f in self._finish.items() if f > self._now or t in self._waiting}
