"""Process-wide records the control endpoint reports: asks, stops, acks, tool results, uploads."""

from __future__ import annotations

import collections
import os
import threading
import time
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from .session import Session


class SimState:
    """Thread-safe records shared by every connection; `snapshot()` is cheap."""

    def __init__(self, limit: int = 1000):
        self._lock = threading.Lock()
        self._limit = limit
        self.connections: dict[int, Session] = {}
        self.sessions: dict[str, list[dict[str, str]]] = {}
        self.acp_sessions: dict[str, dict[str, Any]] = {}   # session/new: {cwd, model}
        self.endpoint = ""
        self._reset_records()

    def _reset_records(self) -> None:
        self.asks: collections.deque[dict[str, Any]] = collections.deque(maxlen=self._limit)
        self.stops: collections.deque[object] = collections.deque(maxlen=self._limit)
        self.tool_results: collections.deque[dict[str, Any]] = collections.deque(maxlen=self._limit)
        self.uploads: collections.deque[dict[str, Any]] = collections.deque(maxlen=self._limit)
        self.cancels: collections.deque[str] = collections.deque(maxlen=self._limit)
        self.set_models: collections.deque[dict[str, Any]] = collections.deque(maxlen=self._limit)
        self.acp_sessions_total = 0
        self.asks_total = 0
        self.closed_acks = {"sent": 0, "acked": 0, "missing": 0, "late": 0}

    def reset(self) -> None:
        """Forget asks, stops, tool results, uploads and closed connections' ack counts."""
        with self._lock:
            self._reset_records()
            sessions = list(self.connections.values())
        for session in sessions:
            session.scheduler.reset_acks()

    # connections ---------------------------------------------------------------
    def add_connection(self, session: Session) -> None:
        """Register a live connection."""
        with self._lock:
            self.connections[session.id] = session

    def remove_connection(self, session: Session) -> None:
        """Unregister a connection, keeping its ack counts in the totals."""
        counts = session.scheduler.acks.counts(time.monotonic())
        with self._lock:
            self.connections.pop(session.id, None)
            for key, value in counts.items():
                self.closed_acks[key] += value

    def active_asks(self) -> int:
        """Asks in flight over every live connection."""
        with self._lock:
            sessions = list(self.connections.values())
        return sum(s.scheduler.active() for s in sessions)

    # records ---------------------------------------------------------------------
    def record_ask(self, record: dict) -> None:
        """Remember one `chat/ask` (the newest `limit` are kept)."""
        with self._lock:
            self.asks.append(record)
            self.asks_total += 1

    def record_stop(self, request_id) -> None:
        """Remember one `chat/stop` requestId."""
        with self._lock:
            self.stops.append(request_id)

    def record_tool(self, result: dict) -> None:
        """Remember whether a `tool/invoke` got its `tool/invokeResult`."""
        with self._lock:
            self.tool_results.append(result)

    def record_upload(self, record: dict) -> None:
        """Remember one `image/upload`."""
        with self._lock:
            self.uploads.append(record)

    def touch_session(self, session_id: str, request_id: str, question: str) -> bool:
        """Add a turn to a session; True when the session is new."""
        with self._lock:
            turns = self.sessions.get(session_id)
            new = turns is None
            if turns is None:
                turns = self.sessions[session_id] = []
            turns.append({"requestId": request_id, "question": question})
            return new

    def delete_session(self, session_id) -> bool:
        """Forget a session (classic or ACP); True when it existed."""
        with self._lock:
            acp = self.acp_sessions.pop(session_id, None) is not None
            return self.sessions.pop(session_id, None) is not None or acp

    # the ACP surface -------------------------------------------------------------
    def new_acp_session(self, session_id: str, cwd: str) -> None:
        """Remember a `session/new`."""
        with self._lock:
            self.acp_sessions[session_id] = {"cwd": cwd, "model": None}
            self.acp_sessions_total += 1

    def acp_session(self, session_id) -> dict[str, Any] | None:
        """A live ACP session's {cwd, model}, or None."""
        with self._lock:
            found = self.acp_sessions.get(session_id)
            return dict(found) if found is not None else None

    def set_acp_model(self, session_id, model) -> bool:
        """`session/set_model`: False when there is no such session."""
        with self._lock:
            self.set_models.append({"sessionId": session_id, "modelId": model})
            found = self.acp_sessions.get(session_id)
            if found is None:
                return False
            found["model"] = model
            return True

    def record_cancel(self, session_id: str) -> None:
        """Remember one `session/cancel` sessionId."""
        with self._lock:
            self.cancels.append(session_id)

    # reporting -------------------------------------------------------------------
    def ack_counts(self) -> dict:
        """Ack counters summed over live and closed connections."""
        now = time.monotonic()
        with self._lock:
            totals = dict(self.closed_acks)
            sessions = list(self.connections.values())
        for session in sessions:
            for key, value in session.scheduler.acks.counts(now).items():
                totals[key] += value
        return totals

    def snapshot(self, *, logged_in: bool, limit: int = -1) -> dict:
        """The `/sim/state` document; `limit` >= 0 keeps only the newest records of each list."""
        acks = self.ack_counts()
        with self._lock:
            sessions = list(self.connections.values())
            doc = {
                "pid": os.getpid(), "logged_in": logged_in, "connections": len(sessions),
                "asks": _tail(self.asks, limit), "asks_total": self.asks_total,
                "stops": _tail(self.stops, limit),
                "tool_results": _tail(self.tool_results, limit),
                "uploads": _tail(self.uploads, limit),
                "sessions": len(self.sessions), "endpoint": self.endpoint,
                "acp": {"sessions": len(self.acp_sessions), "sessions_total": self.acp_sessions_total,
                        "cancels": _tail(self.cancels, limit), "set_models": _tail(self.set_models, limit)},
            }
        doc["acks"] = acks
        doc["active_asks"] = sum(s.scheduler.active() for s in sessions)
        doc["connection_list"] = [s.describe() for s in sessions]
        return doc

    def session_history(self) -> dict:
        """Every session's turns (for `/sim/sessions`)."""
        with self._lock:
            return {sid: list(turns) for sid, turns in self.sessions.items()}


def _tail(records, limit: int) -> list:
    items = list(records)
    if limit < 0:
        return items
    return items[len(items) - limit:] if limit else []
