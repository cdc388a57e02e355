"""A bounded, cooperative allowance of work for compiling schemas and checking answers.

A client's JSON Schema and a model's answer decide how long jsonschema runs, and that runs on
the worker's event loop. A `Budget` counts steps (keyword applications, weighted by the size
of what they loop over) and the CPU seconds the work itself used; past either limit the work
stops with `OverBudget`. After every `SLICE` seconds of running it sleeps for a moment, which
under gevent lets the other streams run, so a long check slows only its own request.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator

SLICE = 0.01             # seconds of running between yields to the other greenlets
# Not 0: gevent runs a sleep(0) as a callback, and the hub polls I/O and timers only after 50
# callbacks in a row (measured: other streams then stall 0.5 s); a timer makes it poll each time.
PAUSE = 1e-6
CLOCK_EVERY = 64         # steps between looks at the clocks

CHECK_STEPS = 300_000    # checking every answer of one request (first answer and repair turn)
CHECK_SECONDS = 1.0      # CPU seconds
COMPILE_STEPS = 600_000    # compiling every schema one request offers (meta-schema validation:
COMPILE_SECONDS = 1.0      # about 0.6 s of CPU for a new 0.9 MB schema; a cached one costs nothing)

_current: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("schema_budget",
                                                                        default=None)


def pause() -> None:
    """Give way for a moment: under gevent the other greenlets run; with threads, the GIL goes."""
    time.sleep(PAUSE)


class OverBudget(Exception):
    """The work ran out of steps or seconds."""


class Budget:
    """Steps and seconds of running that a piece of work may spend."""

    def __init__(self, steps: int, seconds: float, what: str = "the work took too long"):
        self.steps_left = steps
        self.seconds_left = seconds
        self.what = what
        self.limits = (steps, seconds)
        self._countdown = CLOCK_EVERY
        self._slice_start = time.monotonic()
        self._cpu_start = time.thread_time()

    def spend(self, steps: int = 1) -> None:
        """Take steps; raise OverBudget past the limit; now and then mind the clock."""
        self.steps_left -= steps
        if self.steps_left < 0:
            raise self.exhausted()
        self._countdown -= steps
        if self._countdown <= 0:
            self._countdown = CLOCK_EVERY
            self.mind_clock()

    def mind_clock(self) -> None:
        """Once a slice has run, charge its CPU time and yield to the other greenlets."""
        if time.monotonic() - self._slice_start < SLICE:
            return
        self._charge()
        if self.seconds_left < 0:
            raise self.exhausted()
        pause()
        self._slice_start = time.monotonic()
        self._cpu_start = time.thread_time()

    def seconds_remaining(self) -> float:
        """Return the CPU seconds still allowed, counting the current slice as spent."""
        return max(0.0, self.seconds_left - (time.thread_time() - self._cpu_start))

    def _charge(self) -> None:
        # between two yields no other greenlet runs, so this thread's CPU time is this work's
        now = time.thread_time()
        self.seconds_left -= now - self._cpu_start
        self._cpu_start = now

    def exhausted(self) -> OverBudget:
        """Build the error for this budget (also used once it has run out)."""
        steps, seconds = self.limits
        return OverBudget(f"{self.what} (over {steps:,} steps or {seconds:g} s of CPU)")

    @contextlib.contextmanager
    def active(self) -> Iterator[Budget]:
        """Make this the budget that `spend()` charges, for the duration of the block."""
        token = _current.set(self)
        # CPU is charged only inside these blocks; the slice, though, runs on between them
        # (the loop was not yielded to then either), so many short checks still yield
        self._cpu_start = time.thread_time()
        try:
            yield self
        finally:
            _current.reset(token)
            self._charge()

    def __repr__(self) -> str:
        return f"Budget({self.what!r}, steps_left={self.steps_left})"


def spend(steps: int = 1) -> None:
    """Charge the active budget (nothing happens outside one)."""
    budget = _current.get()
    if budget is not None:
        budget.spend(steps)


def current() -> Budget | None:
    """Return the active budget, if any."""
    return _current.get()


def check_budget() -> Budget:
    """A budget for checking every answer of one request against its schemas."""
    return Budget(CHECK_STEPS, CHECK_SECONDS,
                  "the schema took too long to check against the answer")


def compile_budget() -> Budget:
    """A budget for compiling every schema one request offers."""
    return Budget(COMPILE_STEPS, COMPILE_SECONDS, "the schema is too large to check")
