"""Per-tool counters of calls, repairs and failures, and JSON log lines about tool events.

A request logs its first LOG_LIMIT tool events one line each and the rest as one summary
line (`RequestEvents`): one answer may hold thousands of broken blocks. Counters count all.
"""

from __future__ import annotations

import json
import logging
import threading

LOGGER = logging.getLogger("lingma_flask.tools")
EVENTS = ("call", "repair", "failure")
DETAIL_LIMIT = 300
NAME_LIMIT = 64          # tool names come from the model too: keep and log no more of one
MAX_TOOLS = 1000         # tool names come from clients: bound what they can make us keep
LOG_LIMIT = 20           # tool events one request logs one by one
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
        tool = tool[:NAME_LIMIT]
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
    line = {"event": event, "tool": tool[:NAME_LIMIT], "detail": str(detail)[:DETAIL_LIMIT]}
    level = logging.INFO if event == "call" else logging.WARNING
    LOGGER.log(level, json.dumps(line, ensure_ascii=False))


def record(tool: str, event: str, detail: str = "") -> None:
    """Count a tool event and log it."""
    count(tool, event)
    log_event(tool, event, detail)


class RequestEvents:
    """One request's tool events: every one counted, the first `limit` logged, the rest summed.

    `summarize()` writes the one line about the events not logged since the last summary.
    """

    def __init__(self, limit: int = LOG_LIMIT):
        self.limit = limit
        self.logged = 0
        self.unlogged: dict[str, int] = {}

    def record(self, tool: str, event: str, detail: str = "") -> None:
        """Count a tool event; log it while this request is under its limit."""
        count(tool, event)
        if self.logged < self.limit:
            self.logged += 1
            log_event(tool, event, detail)
        else:
            self.unlogged[event] = self.unlogged.get(event, 0) + 1

    def summarize(self) -> None:
        """Log one line counting the events left unlogged, if any, by event."""
        if not self.unlogged:
            return
        total = sum(self.unlogged.values())
        level = logging.INFO if set(self.unlogged) == {"call"} else logging.WARNING
        line = {"event": "unlogged", "counts": self.unlogged,
                "detail": f"{total} more tool event{'s' if total > 1 else ''} of this request, "
                          "not logged one by one"}
        LOGGER.log(level, json.dumps(line))
        self.unlogged = {}
