"""Per-tool counters of calls, repairs and failures, and one JSON log line per tool event."""

from __future__ import annotations

import json
import logging
import threading

LOGGER = logging.getLogger("lingma_flask.tools")
EVENTS = ("call", "repair", "failure")
DETAIL_LIMIT = 300
MAX_TOOLS = 1000         # tool names come from clients: bound what they can make us keep
OTHER = "(other)"


class ToolStats:
    """Thread-safe counts of tool events, per tool name."""

    def __init__(self, max_tools: int = MAX_TOOLS):
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {}
        self._max_tools = max_tools

    def count(self, tool: str, event: str) -> None:
        """Add one event for a tool; names past the bound are counted under "(other)"."""
        if event not in EVENTS:
            raise ValueError(f"tool event must be one of {EVENTS}, not {event!r}")
        with self._lock:
            if tool not in self._counts and len(self._counts) >= self._max_tools:
                tool = OTHER
            counts = self._counts.setdefault(tool, dict.fromkeys(EVENTS, 0))
            counts[event] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Return a copy of the counts: {tool: {"call": n, "repair": n, "failure": n}}."""
        with self._lock:
            return {tool: dict(counts) for tool, counts in self._counts.items()}


STATS = ToolStats()


def count(tool: str, event: str) -> None:
    """Add one event ("call", "repair" or "failure") for a tool to the process-wide counts."""
    STATS.count(tool, event)


def snapshot() -> dict[str, dict[str, int]]:
    """Return a copy of the process-wide counts."""
    return STATS.snapshot()


def log_event(tool: str, event: str, detail: str = "") -> None:
    """Write one JSON log line about a tool event on the lingma_flask.tools logger."""
    line = {"event": event, "tool": tool, "detail": str(detail)[:DETAIL_LIMIT]}
    level = logging.INFO if event == "call" else logging.WARNING
    LOGGER.log(level, json.dumps(line, ensure_ascii=False))


def record(tool: str, event: str, detail: str = "") -> None:
    """Count a tool event and log it."""
    count(tool, event)
    log_event(tool, event, detail)
