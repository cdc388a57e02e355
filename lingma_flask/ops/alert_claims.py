"""`SharedAlerts`: the alerts every worker of a gateway shares, sent once per gateway.

The login and the quota belong to the gateway, not to a worker: each worker sees the same
change, and a reload starts new workers that see it again. A small JSON file in the work root
records, per gateway-wide alert, the state last announced; a worker sends an alert only when
it claims a change of that record, under an exclusive `flock`, so one alert goes out per event.
Per-instance alerts (an instance that gave up) stay with the worker that owns the instance.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from .alerts import Alert

log = logging.getLogger(__name__)

GATEWAY_WIDE = frozenset({"logged_out", "quota_exhausted"})
FILE_NAME = "alerts.json"


class SharedAlerts:
    """The announced state of each gateway-wide alert, in `<folder>/alerts.json`."""

    def __init__(self, folder: Path | str):
        self.path = Path(folder) / FILE_NAME

    def claim(self, alert: Alert) -> bool:
        """Record `alert` as announced; return False if it was already (another worker's)."""
        if alert.kind not in GATEWAY_WIDE:
            return True
        try:
            with self._locked() as state:
                if state.get(alert.kind, True) == alert.recovered:
                    return False
                state[alert.kind] = alert.recovered
                self._write(state)
                return True
        except OSError as exc:  # an unwritable work root must not cost the alert
            log.warning("alerts: could not share the alert state (%s): sending anyway", exc)
            return True

    def recovered(self, kind: str) -> bool:
        """Whether `kind` was last announced as recovered (or never announced)."""
        return bool(self._read().get(kind, True))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, bool]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield self._read()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, bool]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): bool(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write(self, state: dict[str, bool]) -> None:
        partial = self.path.with_name(f".{FILE_NAME}.{os.getpid()}")
        partial.write_text(json.dumps(state))
        os.replace(partial, self.path)
