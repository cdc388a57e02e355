"""Operator alerts to a Slack-compatible webhook (`{"text": ...}`), sent off the request path.

`Alerter.alert()` only puts the alert on a bounded queue; one daemon thread (a greenlet under
gevent), started on the first alert, decides what to send (`AlertGate`) and POSTs it with
`requests`, retrying connection errors, 5xx and 429 with exponential backoff (honouring
Retry-After up to a cap). The webhook URL usually carries a secret token, so only its host is
ever logged.
"""

from __future__ import annotations

import dataclasses
import email.utils
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:   # imported where an alert is sent: a worker that never alerts saves 5 MB
    import requests

log = logging.getLogger(__name__)

KINDS = ("logged_out", "instance_failed", "quota_exhausted")
# kind -> (headline when it happens, headline when it recovers); {subject} is e.g. an instance
HEADLINES = {
    "logged_out": ("Lingma is logged out: chats are refused until it logs in again",
                   "Lingma is logged in again: logged_out recovered"),
    "instance_failed": ("Lingma instance {subject} failed: it gave up reconnecting",
                        "Lingma instance {subject} is ready again: instance_failed recovered"),
    "quota_exhausted": ("Lingma's quota is exhausted: chats get 429",
                        "Lingma's quota is available again: quota_exhausted recovered"),
}
MAX_RETRY_AFTER = 60.0


@dataclasses.dataclass(frozen=True)
class Alert:
    """One state change to report: `recovered` False when trouble starts, True when it ends."""

    kind: str
    recovered: bool
    detail: str = ""
    subject: str = ""  # what the state belongs to when a kind has several (an instance name)

    @property
    def key(self) -> tuple[str, str]:
        """The state this alert reports on."""
        return (self.kind, self.subject)


class AlertGate:
    """Decide when an alert goes out; pure, so it is tested with explicit times.

    Each (kind, subject) starts healthy. An alert repeating the state last sent is dropped
    (so a recovery of something never reported is too). At most one alert per kind, subject
    and recovered flag goes out per `min_interval`; a change that comes too soon is held and
    sent when its window opens, unless the state went back to what was last sent meanwhile,
    so the last message always tells the current state.
    """

    def __init__(self, min_interval: float):
        self.min_interval = min_interval
        self._state: dict[tuple[str, str], bool] = {}   # key -> recovered flag last sent
        self._sent_at: dict[tuple, float] = {}           # (key, recovered) -> time sent
        self._held: dict[tuple[str, str], Alert] = {}

    def offer(self, alert: Alert, now: float) -> Alert | None:
        """Return the alert if it should be sent now; otherwise hold or drop it."""
        if self._state.get(alert.key, True) == alert.recovered:
            self._held.pop(alert.key, None)
            return None
        if now < self._opens(alert):
            self._held[alert.key] = alert
            return None
        return self._send(alert, now)

    def assume(self, alert: Alert) -> None:
        """Take `alert` as sent (another worker sent it): its recovery is then news here too."""
        self._state[alert.key] = alert.recovered
        self._held.pop(alert.key, None)

    def due(self, now: float) -> list[Alert]:
        """Return the held alerts whose window has opened (and count them as sent)."""
        ready = [a for a in self._held.values() if now >= self._opens(a)]
        for alert in ready:
            del self._held[alert.key]
            self._send(alert, now)
        return ready

    def next_due(self) -> float | None:
        """Return when the earliest held alert may go out, or None when nothing is held."""
        return min((self._opens(a) for a in self._held.values()), default=None)

    def _opens(self, alert: Alert) -> float:
        sent = self._sent_at.get((alert.key, alert.recovered))
        return float("-inf") if sent is None else sent + self.min_interval

    def _send(self, alert: Alert, now: float) -> Alert:
        self._state[alert.key] = alert.recovered
        self._sent_at[(alert.key, alert.recovered)] = now
        return alert


def message(alert: Alert, source: str = "") -> str:
    """Return the webhook text for an alert."""
    happened, recovered = HEADLINES.get(alert.kind, (alert.kind, alert.kind + " recovered"))
    headline = (recovered if alert.recovered else happened).format(subject=alert.subject or "?")
    prefix = "RECOVERED" if alert.recovered else "ALERT"
    where = f" [{source}]" if source else ""
    detail = f" ({alert.detail})" if alert.detail else ""
    return f"{prefix}{where} {headline}{detail}"


def url_host(url: str) -> str:
    """Return the webhook's host, the only part of its URL that may be logged."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def retry_after(resp: requests.Response) -> float | None:
    """Return the Retry-After header in seconds (a number or an HTTP date), or None."""
    value = resp.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class Alerter:
    """Send alerts to a webhook from one background thread; `alert()` never waits."""

    def __init__(self, url: str, *, min_interval: float = 300.0, timeout: float = 5.0,
                 retries: int = 3, backoff: float = 1.0, max_queue: int = 100, source: str = "",
                 sleep: Callable[[float], object] | None = None,
                 clock: Callable[[], float] = time.monotonic, tick: float = 1.0):
        self.url = url
        self.host = url_host(url)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.source = source
        self.tick = tick
        self._gate = AlertGate(min_interval)
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._stopping = threading.Event()
        self._sleep = sleep or self._stopping.wait  # stop() cuts a backoff short
        self._clock = clock
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def alert(self, kind: str, *, recovered: bool, detail: str = "", subject: str = "") -> bool:
        """Queue an alert and return at once: False if it was dropped (queue full, stopped)."""
        if self._stopping.is_set():
            return False
        self._ensure_thread()
        try:
            self._queue.put_nowait(Alert(kind, bool(recovered), detail, subject))
        except queue.Full:
            log.warning("alert queue full: dropped %s (recovered=%s) for %s", kind, recovered, self.host)
            return False
        return True

    def assume(self, alert: Alert) -> None:
        """Note an alert another worker sent, so that this one sends what follows it."""
        with self._lock:
            self._gate.assume(alert)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the sender thread; alerts still queued are not sent."""
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lingma-alerts", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                item = self._queue.get(timeout=self._wait())
            except queue.Empty:
                item = None
            try:
                self._handle(item)
            except Exception as exc:  # no traceback: its messages may quote the URL
                log.error("alert sender failed (webhook host %s): %s", self.host, type(exc).__name__)

    def _wait(self) -> float:
        with self._lock:  # the gate is also told by the watcher's thread (assume)
            due = self._gate.next_due()
        if due is None:
            return self.tick
        return min(self.tick, max(0.0, due - self._clock()))

    def _handle(self, item: Alert | None) -> None:
        now = self._clock()
        with self._lock:
            offered = [] if item is None else [self._gate.offer(item, now)]
            ready = [a for a in offered if a] + self._gate.due(now)
        for alert in ready:
            self.deliver(alert)

    def deliver(self, alert: Alert) -> bool:
        """POST one alert, retrying what is worth retrying; return whether it was delivered."""
        text = message(alert, self.source)
        for attempt in range(self.retries + 1):
            delay, reason = self._post(text, attempt)
            if delay is None:
                if reason == "":
                    log.info("alert sent to %s: %s", self.host, text)
                return reason == ""
            if attempt == self.retries or self._stopping.is_set():
                break
            self._sleep(delay)
        log.warning("alert %s not delivered to %s after %d attempt(s): %s",
                    alert.kind, self.host, attempt + 1, reason)
        return False

    def _post(self, text: str, attempt: int) -> tuple[float | None, str]:
        """Send once; return (None, "") when delivered, (None, why) when not worth retrying,
        else (seconds to wait, why)."""
        import requests

        backoff = self.backoff * 2 ** attempt
        try:
            resp = requests.post(self.url, json={"text": text}, timeout=self.timeout)
        except requests.RequestException as exc:
            return backoff, type(exc).__name__
        if resp.status_code < 300:
            return None, ""
        reason = f"HTTP {resp.status_code}"
        if resp.status_code == 429 or resp.status_code >= 500:
            wait = retry_after(resp)
            return (backoff if wait is None else min(wait, MAX_RETRY_AFTER)), reason
        log.warning("alert webhook %s refused the alert: %s", self.host, reason)
        return None, reason
