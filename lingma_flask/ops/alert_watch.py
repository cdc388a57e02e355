"""`AlertWatcher`: turn changes in the pool's state into alerts, and its wiring in a worker.

`step` is the pure transition logic (tested without threads or time); `AlertWatcher` polls a
snapshot callable on a `Ticker`; `pool_snapshot` reads this worker's pool and quota flag;
`start_watching` / `stop_watching` run one watcher per worker when LINGMA_ALERT_WEBHOOK is set;
`init_app` subscribes `report_quota` to the app's quota hook (lingma_flask/observe.py).

Each worker watches its own pool. The login and the quota are the gateway's, so their alerts
are claimed in a file every worker shares (alert_claims.py): one alert per event, whatever
the number of workers or reloads. The login is assumed healthy at start, and a gateway still
logged out LINGMA_ALERT_STARTUP_GRACE seconds after its watcher started alerts too.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping

from ..lingma.settings import CoreSettings
from ..observe import of_app
from .alert_claims import SharedAlerts
from .alerts import Alert
from .alerts import Alerter
from .ticker import Ticker

log = logging.getLogger(__name__)

WATCH_SECONDS = 2.0      # cheap (the pool's state in memory); a lost login alerts within seconds
STARTUP_GRACE = 30.0     # a starting gateway may take this long to take up its login (the
                         # watcher's default; a worker's comes from LINGMA_ALERT_STARTUP_GRACE)
_quota_exhausted = threading.Event()


def report_quota(exhausted: bool) -> None:
    """Note Lingma's quota state: True on a quota error, False after a chat that got an answer."""
    if exhausted:
        _quota_exhausted.set()
    else:
        _quota_exhausted.clear()


def init_app(app) -> None:
    """Hear the quota state from the app's chats (see observe.py), webhook or not."""
    of_app(app).quota.subscribe(report_quota)


@dataclasses.dataclass(frozen=True)
class Seen:
    """What the watcher knows so far; None for what it has never observed."""

    logged_in: bool | None = None
    failed: frozenset[str] | None = None
    quota_exhausted: bool | None = None


def step(seen: Seen, snapshot: Mapping) -> tuple[Seen, list[Alert]]:
    """Return what is known after `snapshot` and the alerts its changes from `seen` call for.

    The first known value of each field is its baseline (no alert); a field that is None or
    missing (unknown, e.g. no instance ready to ask) keeps its last known value.
    """
    now = Seen(_known(snapshot.get("logged_in"), seen.logged_in),
               _known_set(snapshot.get("failed"), seen.failed),
               _known(snapshot.get("quota_exhausted"), seen.quota_exhausted))
    alerts = []
    if seen.logged_in is not None and now.logged_in != seen.logged_in:
        alerts.append(Alert("logged_out", recovered=bool(now.logged_in)))
    if seen.failed is not None and now.failed is not None:  # a known set stays known
        errors = snapshot.get("errors") or {}
        alerts += [Alert("instance_failed", False, errors.get(name) or "", name)
                   for name in sorted(now.failed - seen.failed)]
        alerts += [Alert("instance_failed", True, "", name) for name in sorted(seen.failed - now.failed)]
    if seen.quota_exhausted is not None and now.quota_exhausted != seen.quota_exhausted:
        alerts.append(Alert("quota_exhausted", recovered=not now.quota_exhausted))
    return now, alerts


def _known(value, before: bool | None) -> bool | None:
    return before if value is None else bool(value)


def _known_set(value, before: frozenset[str] | None) -> frozenset[str] | None:
    return before if value is None else frozenset(str(name) for name in value)


class AlertWatcher:
    """Poll `snapshot()` every `interval` seconds and send an alert for each transition."""

    def __init__(self, alerter: Alerter, snapshot: Callable[[], Mapping], interval: float = WATCH_SECONDS,
                 *, shared: SharedAlerts | None = None, grace: float = STARTUP_GRACE,
                 clock: Callable[[], float] = time.monotonic):
        self.alerter = alerter
        self.snapshot = snapshot
        self.interval = interval
        self.shared = shared
        # the login starts as last announced (healthy if never): a logged-out start alerts too
        self.seen = Seen(logged_in=shared.recovered("logged_out") if shared is not None else True)
        if not self.seen.logged_in:
            alerter.assume(Alert("logged_out", recovered=False))
        self._clock = clock
        self._grace_ends: float | None = clock() + grace
        self._ticker: Ticker | None = None

    def check(self) -> list[Alert]:
        """Take one snapshot and hand the alerts of its transitions to the alerter."""
        before = self.seen
        self.seen, alerts = step(before, self._graced(self.snapshot()))
        for name, value in dataclasses.asdict(self.seen).items():
            if getattr(before, name) is None and value is not None:
                log.info("alert watcher: baseline %s=%s", name, sorted(value) if name == "failed" else value)
        sent = []
        for alert in alerts:
            if self.shared is None or self.shared.claim(alert):
                sent.append(alert)
            else:
                self.alerter.assume(alert)  # another worker announced it
        for alert in sent:
            self.alerter.alert(alert.kind, recovered=alert.recovered, detail=alert.detail,
                               subject=alert.subject)
        return sent

    def _graced(self, snapshot: Mapping) -> Mapping:
        """While the gateway starts (until logged in, or the grace ends), logged out is no news."""
        if self._grace_ends is None:
            return snapshot
        if snapshot.get("logged_in") or self._clock() >= self._grace_ends:
            self._grace_ends = None
            return snapshot
        return {**snapshot, "logged_in": None} if snapshot.get("logged_in") is False else snapshot

    def start(self) -> AlertWatcher:
        """Start polling on a daemon thread."""
        if self._ticker is None:
            self._ticker = Ticker(self.check, self.interval, name="lingma-alert-watch").start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling and the alerter's sender."""
        if self._ticker is not None:
            self._ticker.stop(timeout)
        self.alerter.stop(timeout)


def pool_snapshot(pool) -> dict:
    """Return the watcher's view of a pool: login, failed instances, quota."""
    instances = pool.health().get("instances", [])
    ready = [i for i in instances if i.get("state") == "ready"]
    return {
        "logged_in": any(bool(i.get("logged_in")) for i in ready) if ready else None,
        "failed": [str(i.get("name")) for i in instances if i.get("state") == "failed"],
        "errors": {str(i.get("name")): i.get("last_error") or "" for i in instances},
        "quota_exhausted": _quota_exhausted.is_set(),
    }


def start_watching(app) -> AlertWatcher | None:
    """Watch the app's pool and alert its webhook, when LINGMA_ALERT_WEBHOOK is set."""
    settings = app.extensions["lingma_api"]
    url = settings.alert_webhook
    if not url:
        return None
    if not url.lower().startswith(("http://", "https://")):
        log.warning("LINGMA_ALERT_WEBHOOK is not an http(s) URL: alerts are off")
        return None
    pool = app.extensions["lingma"]
    alerter = Alerter(url, min_interval=settings.alert_interval, source=source_name())
    # the gateway's work root, above every worker's own w<k>
    shared = SharedAlerts(CoreSettings.from_mapping(app.config).work_root())
    watcher = AlertWatcher(alerter, lambda: pool_snapshot(pool), shared=shared,
                           grace=settings.alert_startup_grace).start()
    app.extensions["lingma_alerts"] = watcher
    log.info("alerts go to the webhook at %s (at most one per kind every %g s)",
             alerter.host, settings.alert_interval)
    return watcher


def stop_watching(app, timeout: float = 5.0) -> None:
    """Stop the app's alert watcher, if one runs."""
    watcher = app.extensions.pop("lingma_alerts", None)
    if watcher is not None:
        watcher.stop(timeout)


def source_name() -> str:
    """Name where alerts come from: the host and, with several workers, the worker."""
    index = os.environ.get("LINGMA_WORKER_INDEX")
    return socket.gethostname() + (f" worker {index}" if index else "")
