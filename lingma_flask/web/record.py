"""What one request's log line says (`RequestRecord`), and this worker's last API requests.

Flask-free, so the pipeline fills in the record it is handed; `requestlog.py` holds the Flask
hooks that open a record per request and write its line.
"""

from __future__ import annotations

import collections
import datetime
import logging
import time
from collections.abc import Callable

from ..logs import REQUEST_LOGGER
from ..observe import Observers

FIELD_LIMIT = 200
PROMPT_LIMIT = 2000  # characters of the last user message kept for LINGMA_LOG_PROMPTS (never logged)
OPTIONAL = ("key", "tool_calls")  # in the line only when set
QUIET_ROUTES = frozenset({"/health", "/ready", "/metrics"})  # logged at DEBUG

log = logging.getLogger(REQUEST_LOGGER)


class RequestRecord:
    """What one request's log line says; a streamed response finishes it from its generator."""

    def __init__(self, request_id: str, method: str, route: str, observers: Observers | None = None,
                 client: str | None = None):
        self.id = request_id
        self.method = method
        self.route = route
        self.client = client  # the client's address (behind LINGMA_TRUSTED_PROXIES, as forwarded)
        self.key: str | None = None  # the API key's name (never the key); absent when keyless
        self._rule: str | None = None  # the matched URL rule: the metrics label, never the raw path
        self.model: str | None = None
        self.instance: str | None = None
        self.status: int | None = None
        self.stream = False
        self.finish_reason: str | None = None
        self.error: str | None = None
        self._start = time.monotonic()
        self.started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
        self.first_token_ms: int | None = None
        self._first_token_s: float | None = None  # the metrics keep sub-millisecond precision
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.tool_calls: int | None = None  # calls returned, when the answer had any
        self._prompt: str | None = None  # the last user message: usage's, with LINGMA_LOG_PROMPTS only
        self._written = False
        # who hears of the finished request (metrics); nobody for a record made outside an app
        self._observers = observers if observers is not None else Observers()
        self._on_write: list[Callable[[RequestRecord], object]] = []  # e.g. the key's open-chat hold

    def mark_first_token(self) -> None:
        """Note the first answer chunk's latency (only the first call counts)."""
        if self.first_token_ms is None:
            self._first_token_s = time.monotonic() - self._start
            self.first_token_ms = int(self._first_token_s * 1000)

    def note_prompt(self, text: str) -> None:
        """Keep the request's last user message (capped) for the store; the line never shows it."""
        self._prompt = text[:PROMPT_LIMIT]

    def on_write(self, callback: Callable[[RequestRecord], object]) -> None:
        """Call `callback(record)` once the line is written, whichever way the request ended."""
        self._on_write.append(callback)

    def write(self) -> None:
        """Log the line once."""
        if self._written:
            return
        self._written = True
        fields = {k: _capped(v) for k, v in vars(self).items()
                  if not k.startswith("_") and k != "started_at" and (k not in OPTIONAL or v is not None)}
        total_s = time.monotonic() - self._start
        fields["total_ms"] = int(total_s * 1000)
        # probes ask every few seconds: their lines would drown the requests that matter
        log.log(logging.DEBUG if self._rule in QUIET_ROUTES else logging.INFO, "request",
                extra={"fields": fields})
        _remember(self, fields["total_ms"])
        self._observers.request_finished(
            self._rule, self.status or 0, self.model, total_s, self._first_token_s,
            self.prompt_tokens or 0, self.completion_tokens or 0, self.key)
        self._observers.request_logged({**fields, "time": self.started_at, "rule": self._rule,
                                         "prompt": self._prompt})
        for callback in self._on_write:
            try:
                callback(self)
            except Exception:  # the line is written as the response closes: never fail that
                log.exception("request %s: a callback of its end failed", self.id)


# this worker's last API requests, for the admin
RECENT: collections.deque[dict[str, object]] = collections.deque(maxlen=100)
UNLISTED = ("/admin", "/metrics", "/health", "/ready", "/openapi")


def recent_requests() -> list[dict]:
    """Return this worker's last 100 API requests, newest first (no prompt text in them)."""
    return list(reversed(RECENT))


def _remember(record: RequestRecord, total_ms: int) -> None:
    if not record.route.startswith(UNLISTED):
        RECENT.append({
            "id": record.id, "time": record.started_at, "route": _capped(record.route), "key": record.key,
            "model": _capped(record.model), "status": record.status, "error": _capped(record.error),
            "finish_reason": record.finish_reason, "first_token_ms": record.first_token_ms,
            "total_ms": total_ms})


def _capped(value):
    """Keep logged strings short (client-chosen names can be megabytes)."""
    if isinstance(value, str) and len(value) > FIELD_LIMIT:
        return value[:FIELD_LIMIT - 3] + "..."
    return value
