"""`Ticker`: call a function every few seconds on one daemon thread (a greenlet under gevent)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Ticker:
    """Run `tick()` at once and then every `interval` seconds until `stop()`; never raise."""

    def __init__(self, tick: Callable[[], object], interval: float, *, name: str):
        self.tick = tick
        self.interval = interval
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Ticker:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and wait for it at most `timeout` seconds."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:
                log.exception("%s: tick failed", self.name)
            if self._stop.wait(self.interval):
                return
