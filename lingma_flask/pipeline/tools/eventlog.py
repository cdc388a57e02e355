"""JSON log lines about tool events (calls, repairs, failures, dropped calls), a bounded number per request.

A request logs its first LOG_LIMIT tool events one line each and the rest as one summary
line (`RequestEvents`): one answer may hold thousands of broken blocks. Counting the events
is the metrics' job: the Job reports each to the app's `tool_event` hook (observe.py).
"""

from __future__ import annotations

import json
import logging

LOGGER = logging.getLogger("lingma_flask.tools")
DETAIL_LIMIT = 300
NAME_LIMIT = 64          # tool names come from the model too: log no more of one
LOG_LIMIT = 20           # tool events one request logs one by one


def log_event(tool: str, event: str, detail: str = "") -> None:
    """Write one JSON log line about a tool event on the lingma_flask.tools logger."""
    line = {"event": event, "tool": tool[:NAME_LIMIT], "detail": str(detail)[:DETAIL_LIMIT]}
    level = logging.INFO if event == "call" else logging.WARNING
    LOGGER.log(level, json.dumps(line, ensure_ascii=False))


class RequestEvents:
    """One request's tool events: the first `limit` logged, the rest summed.

    `summarize()` writes the one line about the events not logged since the last summary.
    """

    def __init__(self, limit: int = LOG_LIMIT):
        self.limit = limit
        self.logged = 0
        self.unlogged: dict[str, int] = {}

    def record(self, tool: str, event: str, detail: str = "") -> None:
        """Log a tool event while this request is under its limit, else count it for the summary."""
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
