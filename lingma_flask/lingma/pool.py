"""`LingmaPool`: the one door between the API and Lingma.

It owns `pool_size` supervised instances, each with its own work dir `<root>/<i>` and its own
ports, routes each chat to the ready instance with the fewest chats in flight, holds at most
`max_concurrency` chats per instance, and waits at most `queue_timeout` for a free slot
before answering "busy" with a retry-after hint. While every slot is taken, waiting chats are
admitted by weighted fair queuing across their tenants (`ask(..., tenant=)`, fairqueue.py),
not in arrival order: one tenant's flood cannot starve the others.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

from . import attach
from . import discovery
from .errors import LingmaBusyError
from .errors import LingmaError
from .errors import LingmaNotLoggedInError
from .errors import LingmaNotReadyError
from .errors import LingmaPromptTooLargeError
from .errors import LingmaShutdownError
from .fairqueue import FairQueue
from .instance import CLOSED
from .instance import FAILED
from .instance import RECONNECTING
from .instance import STARTING
from .instance import LingmaInstance
from .instance import wait_until
from .lock import WorkDirLock

if TYPE_CHECKING:
    from .models import ModelInfo
    from .settings import CoreSettings
    from .stream import ChatStream

log = logging.getLogger(__name__)

BUSY_RETRY_AFTER = 2
RECHECK = 5.0  # seconds between a waiting chat's looks for capacity nobody announced (an instance now ready)
SIMULATOR_BANNER = (
    "\n" + "!" * 78 + "\n"
    "!! No Lingma installation was found (LINGMA_BIN unset, nothing in ~/.lingma/bin or PATH).\n"
    "!! lingma-flask is running against its BUILT-IN SIMULATOR: answers are fake echoes.\n"
    "!! Install Lingma (any Lingma IDE plugin) or set LINGMA_BIN to use the real thing.\n"
    + "!" * 78
)


class Slot:
    """One chat's claim on an instance's concurrency; `release()` gives it back exactly once."""

    __slots__ = ("instance", "_pool", "_lock", "_held")

    def __init__(self, pool: LingmaPool, instance: LingmaInstance):
        self.instance = instance
        self._pool = pool
        self._lock = threading.Lock()
        self._held = True

    def release(self, *_ignored: object) -> None:
        """Free the slot; later calls do nothing (so every exit path may call it)."""
        with self._lock:
            held, self._held = self._held, False
        if held:
            self._pool._release(self.instance)


class _Waiter:
    """A chat waiting for a slot: woken when one is handed to it (`instance` set)."""

    __slots__ = ("tenant", "wake", "instance")

    def __init__(self, tenant: str | None, lock: threading.RLock) -> None:
        self.tenant = tenant
        self.wake = threading.Condition(lock)
        self.instance: LingmaInstance | None = None


class LingmaPool:
    """Several supervised Lingma instances behind one `ask()`; see docs/architecture.md."""

    def __init__(self, settings: CoreSettings, *, command: discovery.LingmaCommand | None = None):
        self.settings = settings
        self._command = command
        self._mutex = threading.RLock()
        self._cond = threading.Condition(self._mutex)
        # a tenant's share of the admission queue (the gateway sets it from LINGMA_KEY_LIMITS)
        self.tenant_weight: Callable[[str | None], int] = lambda tenant: 1
        self._queue: FairQueue[_Waiter] = FairQueue(lambda tenant: self.tenant_weight(tenant))
        self.instances: list[LingmaInstance] = []
        self.using_simulator = False
        self._started = False
        self._lock = WorkDirLock(settings.work_root())
        self.on_queue_wait: Callable[[float], None] | None = None  # told how long each chat waited

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Create the instances and start each in the background; never blocks on Lingma."""
        with self._cond:
            if self._started:
                return
            if attach.target(self.settings) is None:  # spawned Lingmas need their work dirs to themselves
                self._lock.acquire()
            self._started = True
            self.instances = self._build_instances()
        for instance in self.instances:
            instance.start()

    def _build_instances(self) -> list[LingmaInstance]:
        root = self.settings.work_root()
        wanted = attach.describe_target(self.settings)
        if wanted is not None:
            log.info("attach mode (%s=%s): using a Lingma the gateway did not start and never stops%s",
                     attach.setting_name(self.settings), wanted,
                     "; looking for a running Lingma / Qoder CN desktop" if wanted == attach.AUTO else "")
            return [LingmaInstance("lingma-0", self.settings, root / "0", command=None)]
        command = self._command or discovery.resolve_command(self.settings)
        self.using_simulator = command.simulator
        if command.simulator and self.settings.bin != discovery.SIMULATOR:
            log.warning(SIMULATOR_BANNER)
            print(SIMULATOR_BANNER, file=sys.stderr, flush=True)  # loud in any log format
        log.info("Lingma command: %s; %d instance(s) under %s", command.description, self.settings.pool_size, root)
        return [LingmaInstance(f"lingma-{i}", self.settings, root / str(i), command=command)
                for i in range(max(1, self.settings.pool_size))]

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every instance: streams end, sockets close, spawned processes die."""
        for instance in self.instances:
            instance.stop(timeout)
        self._lock.release()

    def begin_shutdown(self) -> None:
        """The worker is shutting down (called from its SIGTERM handler: flags only)."""
        for instance in self.instances:
            instance.begin_shutdown()

    def drain(self, message: str = "The gateway is shutting down") -> int:
        """End every open stream with a shutdown error; return how many were open."""
        return sum(i.drain(LingmaShutdownError(message, retry_after=5)) for i in self.instances)

    def wait_ready(self, timeout: float) -> bool:
        """Wait until at least one instance can take a chat; return whether one can."""
        return wait_until(lambda: any(i.routable() for i in self.instances), timeout)

    def await_ready(self, timeout: float) -> bool:
        """Like `wait_ready`, but first start afresh any instance that gave up."""
        for instance in self.instances:
            if instance.state == FAILED:
                instance.start()
        return self.wait_ready(timeout)

    def open_streams(self) -> int:
        """How many chats are open on all instances."""
        return sum(i.open_streams() for i in self.instances)

    # -- chat --------------------------------------------------------------------------
    def ask(self, prompt: str, model_key: str | None, *, ask_mode: str | None = None,
            images: tuple[str, ...] = (), tenant: str | None = None) -> ChatStream:
        """Send a chat to the least busy ready instance and return its `ChatStream`.

        `tenant` names whose chat it is (opaque here): while slots are scarce, tenants take
        turns in the queue.
        """
        limit = self.settings.max_prompt_chars
        if len(prompt) > limit:
            raise LingmaPromptTooLargeError(
                f"The prompt is {len(prompt)} characters long, over this gateway's limit of "
                f"{limit} (LINGMA_MAX_PROMPT_CHARS): shorten the conversation.")
        slot = self._acquire(tenant)
        try:
            return slot.instance.ask(prompt, model_key, mode=ask_mode or self.settings.ask_mode,
                                     on_close=slot.release, images=images)
        except BaseException:
            slot.release()
            raise

    def _acquire(self, tenant: str | None = None) -> Slot:
        """Take a slot now if one is free and nobody waits; else queue fairly for one.

        Slots freed while chats wait are handed to them in the queue's order (`_hand_out`), so
        a newcomer never takes one ahead of the queue. Raises LingmaBusyError after
        `queue_timeout`, and the readiness errors of `_ready_instances`.
        """
        began = time.monotonic()
        deadline = began + self.settings.queue_timeout
        with self._mutex:
            if not self._queue:
                chosen = self._free_instance()
                if chosen is not None:
                    chosen.in_flight += 1
                    self._queue.served(tenant)   # the tenant's share counts slots taken at once too
                    return self._admitted(chosen, began)
            waiter = _Waiter(tenant, self._mutex)
            self._queue.push(tenant, waiter)
            try:
                while waiter.instance is None:
                    try:
                        self._hand_out()   # this chat's own turn may be now
                    except LingmaError:
                        if waiter.instance is None:
                            raise
                    if waiter.instance is not None:
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise LingmaBusyError(
                            f"all {len(self._ready_instances())} Lingma instance(s) are at their limit"
                            f" of {self.settings.max_concurrency} concurrent chats; retry shortly",
                            retry_after=BUSY_RETRY_AFTER)
                    waiter.wake.wait(min(remaining, RECHECK))
                instance, waiter.instance = waiter.instance, None
                return self._admitted(instance, began)
            finally:
                if waiter.instance is not None:   # handed a slot, but leaving with an error
                    self._release_locked(waiter.instance)
                self._queue.remove(tenant, waiter)

    def _admitted(self, instance: LingmaInstance, began: float) -> Slot:
        if self.on_queue_wait is not None:
            self.on_queue_wait(time.monotonic() - began)
        return Slot(self, instance)

    def _free_instance(self) -> LingmaInstance | None:
        """The ready instance with the fewest chats, if one has a free slot (lock held)."""
        free = [i for i in self._ready_instances() if i.in_flight < self.settings.max_concurrency]
        return min(free, key=lambda i: i.in_flight) if free else None

    def _hand_out(self) -> None:
        """Give free slots to waiting chats, in the queue's fair order (lock held)."""
        while self._queue:
            chosen = self._free_instance()
            if chosen is None:
                return
            waiter = self._queue.pop()
            assert waiter is not None
            chosen.in_flight += 1
            waiter.instance = chosen
            waiter.wake.notify()

    def queued(self) -> int:
        """How many chats wait for a slot."""
        with self._mutex:
            return len(self._queue)

    def _ready_instances(self) -> list[LingmaInstance]:
        ready = [i for i in self.instances if i.routable()]
        if not ready:
            raise self._not_ready()
        logged_in = [i for i in ready if i.logged_in]
        if logged_in:
            return logged_in
        if any(i.in_flight == 0 for i in ready):
            return ready  # let the instance re-check auth/status and explain
        raise LingmaNotLoggedInError("Lingma is not logged in", retry_after=None)

    def _not_ready(self) -> LingmaNotReadyError:
        if not self._started or not self.instances:
            return LingmaNotReadyError("the Lingma pool has not been started", retry_after=5)
        reasons = "; ".join(i.not_ready_message() for i in self.instances if i.state != CLOSED)
        failed = [i for i in self.instances if i.state == FAILED]
        for instance in failed:
            instance.start()  # the supervisor gave up: begin afresh for later requests
        again = "; starting it again" if failed else ""
        return LingmaNotReadyError(f"Lingma is not ready ({reasons or 'closed'}){again}", retry_after=5)

    def _release(self, instance: LingmaInstance) -> None:
        with self._mutex:
            self._release_locked(instance)

    def _release_locked(self, instance: LingmaInstance) -> None:
        if instance.in_flight <= 0:  # impossible through Slot; never let it go negative
            log.error("[%s] a slot was released more often than taken", instance.name)
            return
        instance.in_flight -= 1
        try:
            self._hand_out()
        except LingmaError:
            # no instance can take chats now: one waiter wakes to find out for itself (and says so)
            waiting = self._queue.items()
            if waiting:
                waiting[0].wake.notify()

    # -- registry and health -----------------------------------------------------------
    def models(self) -> list[ModelInfo]:
        """Return the live model registry of the first ready, logged-in instance.

        While no instance is ready but one is reconnecting or respawning, the registry it read
        last (a restart does not change Lingma's models): listing and checking model names
        does not fail for the second a respawn takes.
        """
        try:
            ready = self._ready_instances()
        except LingmaNotReadyError:
            known = self._last_registry()
            if not known:
                raise
            return known
        for instance in ready:
            if instance.models:
                return list(instance.models)
        return self.refresh_models()

    def _last_registry(self) -> list[ModelInfo]:
        for instance in self.instances:
            if instance.state in (RECONNECTING, STARTING) and instance.logged_in and instance.models:
                return list(instance.models)
        return []

    def refresh_models(self) -> list[ModelInfo]:
        """Re-read auth and models from Lingma now and return the models."""
        ready = self._ready_instances()
        ready[0].refresh()
        if not ready[0].logged_in:
            raise LingmaNotLoggedInError("Lingma is not logged in", retry_after=None)
        return list(ready[0].models)

    def attached(self) -> dict[str, Any] | None:
        """Attach mode: what was asked for and the endpoint in use (None until one answers);
        None when the gateway spawns its own Lingma."""
        wanted = attach.describe_target(self.settings)
        if wanted is None:
            return None
        endpoints = [i.attached for i in self.instances if i.attached is not None]
        return {"setting": f"{attach.setting_name(self.settings)}={wanted}",
                "endpoint": endpoints[0].describe() if endpoints else None,
                "found_in": endpoints[0].source if endpoints else None}

    def context_window(self, model_key: str | None) -> int | None:
        """The model's context window in tokens, when Lingma says it; None when unknown.

        A registry fact (`config/queryModels`' max-input field) wins; else the largest window
        an instance reported (`context_usage.limitTokens`), the most lenient guess.
        """
        for instance in self.instances:
            for info in instance.models:
                if info.key == model_key and info.max_input_tokens:
                    return info.max_input_tokens
        limits = [i.context_limit for i in self.instances if i.context_limit]
        return max(limits) if limits else None

    def health(self) -> dict[str, Any]:
        """Return the pool's health summary (per instance, no secrets)."""
        instances = [i.health() for i in self.instances]
        return {
            "ready": any(i.ready and i.logged_in for i in self.instances),
            "simulator": self.using_simulator,
            "attached": self.attached(),
            "max_concurrency": self.settings.max_concurrency,
            "in_flight": sum(i.in_flight for i in self.instances),
            "queued": self.queued(),
            "open_streams": self.open_streams(),
            "instances": instances,
        }

