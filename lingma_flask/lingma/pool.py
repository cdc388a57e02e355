"""`LingmaPool`: the one door between the API and Lingma.

It owns `pool_size` supervised instances, each with its own work dir `<root>/<i>` and its own
ports, routes each chat to the ready instance with the fewest chats in flight, holds at most
`max_concurrency` chats per instance, and waits at most `queue_timeout` for a free slot
before answering "busy" with a retry-after hint.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

from . import discovery
from .errors import LingmaBusyError
from .errors import LingmaNotLoggedInError
from .errors import LingmaNotReadyError
from .errors import LingmaPromptTooLargeError
from .errors import LingmaShutdownError
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


class LingmaPool:
    """Several supervised Lingma instances behind one `ask()`; see docs/architecture.md."""

    def __init__(self, settings: CoreSettings, *, command: discovery.LingmaCommand | None = None):
        self.settings = settings
        self._command = command
        self._cond = threading.Condition()
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
            if not self.settings.socket_port:  # spawned Lingmas need their work dirs to themselves
                self._lock.acquire()
            self._started = True
            self.instances = self._build_instances()
        for instance in self.instances:
            instance.start()

    def _build_instances(self) -> list[LingmaInstance]:
        root = self.settings.work_root()
        if self.settings.socket_port:
            log.info("attach mode: using the Lingma already listening on port %s", self.settings.socket_port)
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
            images: tuple[str, ...] = ()) -> ChatStream:
        """Send a chat to the least busy ready instance and return its `ChatStream`."""
        limit = self.settings.max_prompt_chars
        if len(prompt) > limit:
            raise LingmaPromptTooLargeError(
                f"The prompt is {len(prompt)} characters long, over this gateway's limit of "
                f"{limit} (LINGMA_MAX_PROMPT_CHARS): shorten the conversation.")
        slot = self._acquire()
        try:
            return slot.instance.ask(prompt, model_key, mode=ask_mode or self.settings.ask_mode,
                                     on_close=slot.release, images=images)
        except BaseException:
            slot.release()
            raise

    def _acquire(self) -> Slot:
        began = time.monotonic()
        deadline = began + self.settings.queue_timeout
        with self._cond:
            while True:
                ready = self._ready_instances()
                free = [i for i in ready if i.in_flight < self.settings.max_concurrency]
                if free:
                    chosen = min(free, key=lambda i: i.in_flight)
                    chosen.in_flight += 1
                    if self.on_queue_wait is not None:
                        self.on_queue_wait(time.monotonic() - began)
                    return Slot(self, chosen)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LingmaBusyError(
                        f"all {len(ready)} Lingma instance(s) are at their limit of "
                        f"{self.settings.max_concurrency} concurrent chats; retry shortly",
                        retry_after=BUSY_RETRY_AFTER)
                self._cond.wait(remaining)

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
        with self._cond:
            if instance.in_flight <= 0:  # impossible through Slot; never let it go negative
                log.error("[%s] a slot was released more often than taken", instance.name)
                return
            instance.in_flight -= 1
            self._cond.notify()

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

    def health(self) -> dict[str, Any]:
        """Return the pool's health summary (per instance, no secrets)."""
        instances = [i.health() for i in self.instances]
        return {
            "ready": any(i.ready and i.logged_in for i in self.instances),
            "simulator": self.using_simulator,
            "max_concurrency": self.settings.max_concurrency,
            "in_flight": sum(i.in_flight for i in self.instances),
            "open_streams": self.open_streams(),
            "instances": instances,
        }

