"""The Lingma login shared by every host through the store (LINGMA_SHARE_LOGIN=db), encrypted.

Each host already shares one login between its workers and instances through its login
folder (lingma/login.py); this carries that folder's login between hosts. `run`, a chore of
every worker's writer, compares the host's folder with the newest row of `lingma_logins`
(one row per host; a row without a login is a logout) and acts on the newer of the two:

* a login made on this host (through the status page, or seeded) that is newer than the
  newest row is **published**: this host's row, the login files sealed (store/sealed.py);
* a host with no login of its own **takes** the newest published login into its folder (its
  instances then restart onto it, as they take a login made by another worker); a login it
  took is replaced by a newer one published elsewhere;
* a **logout** on this host (newer than the newest row) deletes every published login and
  leaves a logout row, and a logout row newer than this host's login logs this host out.

Times are compared across hosts (keep their clocks in sync). A login taken from the store is
remembered in `<login folder>/shared.json` (when, from which host, a digest of its files), so
that it is not mistaken for this host's own and, if this host's Lingma does not accept it
within REFUSAL_GRACE, it is dropped, reported once and not taken again: Lingma may bind a login
to the machine that made it (docs/operations.md).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..lingma.login import SharedLogin
from . import tables
from .sealed import Sealer
from .sealed import WrongKey
from .upsert import replace
from .upsert import upsert

log = logging.getLogger(__name__)

SETTING = "LINGMA_SHARE_LOGIN"
EVERY = 5.0              # seconds between two comparisons (the instances read the folder every few)
REFUSAL_GRACE = 90.0     # seconds a taken login has to be accepted by a ready Lingma of this worker
MARKER = "shared.json"
SLACK = 0.001            # seconds: a time that went through the database and back is the same time

Accepted = Callable[[], bool | None]   # a Lingma of this worker is logged in (None: none is ready)


def digest(records: dict[str, bytes]) -> str:
    """What identifies a login's files (kept beside them, never in the database)."""
    hashed = hashlib.sha256()
    for name in sorted(records):
        hashed.update(name.encode() + b"\0" + len(records[name]).to_bytes(8, "big") + records[name])
    return hashed.hexdigest()


def to_epoch(moment: datetime.datetime) -> float:
    """A stored (naive UTC) time as seconds since the epoch."""
    return moment.replace(tzinfo=datetime.UTC).timestamp()


def to_stored(epoch: float) -> datetime.datetime:
    """Seconds since the epoch as the store keeps times (naive UTC)."""
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).replace(tzinfo=None)


class LoginShare:
    """One worker's side of the login shared between hosts (see the module docstring)."""

    def __init__(self, login: SharedLogin, sealer: Sealer, *, host: str, accepted: Accepted = lambda: None,
                 clock: Callable[[], float] = time.time, grace: float = REFUSAL_GRACE) -> None:
        self.login = login
        self.sealer = sealer
        self.host = host[:tables.HOST_CHARS]
        self.accepted = accepted
        self.clock = clock
        self.grace = grace
        self._unreadable: set[tuple[str, float]] = set()   # versions already reported unreadable

    # -- the chore -----------------------------------------------------------------------
    def run(self, connection: Connection) -> str:
        """Compare this host's login with the newest shared one and act; return what was done
        ("published", "took", "removed", "logged out", "refused" or "").
        """
        t = tables.lingma_logins
        newest = connection.execute(select(t.c.host, t.c.at, t.c.login).order_by(t.c.at.desc(), t.c.host)
                                    .limit(1)).first()
        local = self.login.records()
        if local is None:
            return self._without_login(connection, newest)
        return self._with_login(connection, newest, local)

    def _with_login(self, connection: Connection, newest: Any, local: dict[str, bytes]) -> str:
        marker = self.marker()
        taken = marker if marker.get("digest") == digest(local) else None
        local_at = float(taken["at"]) if taken else (self.login.login_time() or self.clock())
        if newest is None:
            return self._check_accepted(taken) if taken else self._publish(connection, local, local_at)
        newest_at = to_epoch(newest.at)
        if newest.login is None:   # the newest news is a logout
            if newest_at > local_at + SLACK:
                return self._log_out_here(newest.host, newest_at)
            return self._publish(connection, local, local_at) if taken is None else ""
        if newest.host == self.host and abs(newest_at - local_at) <= SLACK:
            return ""   # our own, as published
        records = self._open(newest.host, newest_at, newest.login)
        if records == local:
            return self._check_accepted(taken) if taken else ""
        if taken is not None:
            if records is not None and newest_at > local_at + SLACK:
                return self._take(newest.host, newest_at, records)
            return ""
        if local_at > newest_at + SLACK:
            return self._publish(connection, local, local_at)
        return ""   # this host's own login, older than another host's: each keeps its own

    def _without_login(self, connection: Connection, newest: Any) -> str:
        if newest is None or newest.login is None:
            return ""
        newest_at = to_epoch(newest.at)
        marker = self.marker()
        out = self.login.logged_out_at()
        if out is not None and out > newest_at + SLACK and marker.get("logout_at") != out:
            return self._remove(connection, out)
        if marker.get("refused") and marker.get("host") == newest.host \
                and abs(float(marker.get("at", 0)) - newest_at) <= SLACK:
            return ""   # this host's Lingma did not accept that login: not taken again
        records = self._open(newest.host, newest_at, newest.login)
        return "" if records is None else self._take(newest.host, newest_at, records)

    # -- the actions ---------------------------------------------------------------------
    def _publish(self, connection: Connection, local: dict[str, bytes], at: float) -> str:
        sealed = self.sealer.seal(json.dumps({name: base64.b64encode(data).decode()
                                              for name, data in local.items()}).encode())
        upsert(connection, tables.lingma_logins, [{"host": self.host, "at": to_stored(at), "login": sealed}],
               {"at": replace, "login": replace})
        log.info("store: this host's Lingma login is shared with the other hosts through the database"
                 " (%s=db)", SETTING)
        return "published"

    def _take(self, host: str, at: float, records: dict[str, bytes]) -> str:
        self.login.adopt(records)
        self._save_marker({"host": host, "at": at, "digest": digest(records), "taken": self.clock()})
        log.info("store: took the Lingma login that host %s shared through the database (%s=db);"
                 " this host's Lingma restarts onto it", host[:80], SETTING)
        return "took"

    def _remove(self, connection: Connection, out: float) -> str:
        t = tables.lingma_logins
        connection.execute(delete(t))
        upsert(connection, t, [{"host": self.host, "at": to_stored(out), "login": None}],
               {"at": replace, "login": replace})
        log.info("store: Lingma was logged out on this host: the login shared through the database is"
                 " removed, and the other hosts log out too")
        return "removed"

    def _log_out_here(self, host: str, at: float) -> str:
        self.login.mark_logged_out()
        self._save_marker({"host": host, "at": at, "logout_at": self.login.logged_out_at()})
        log.info("store: host %s logged Lingma out (%s=db): logging out here too", host[:80], SETTING)
        return "logged out"

    def _check_accepted(self, taken: dict[str, Any]) -> str:
        """Drop a taken login this worker's Lingma has not accepted within the grace period."""
        if taken.get("refused") or self.clock() - float(taken.get("taken", 0)) < self.grace:
            return ""
        if self.accepted() is not False:
            return ""
        self.login.forget()
        self._save_marker({**taken, "refused": True})
        log.warning("store: this host's Lingma did not accept the login host %s shared through the"
                    " database: Lingma may bind a login to the machine that made it. Set %s=off and log"
                    " in on each host (the status page's 'Log in to Lingma', or POST /admin/api/login)",
                    str(taken.get("host"))[:80], SETTING)
        return "refused"

    def _open(self, host: str, at: float, sealed: bytes) -> dict[str, bytes] | None:
        try:
            value = json.loads(self.sealer.open(sealed))
            return {name: base64.b64decode(value[name]) for name in ("id", "user")}
        except WrongKey:
            if (host, at) not in self._unreadable:
                self._unreadable.add((host, at))
                log.warning("store: the Lingma login host %s shared through the database cannot be read"
                            " with this host's LINGMA_SECRET_KEY (it was encrypted with another one):"
                            " give every host the same LINGMA_SECRET_KEY", host[:80])
            return None
        except (ValueError, KeyError, TypeError):
            log.warning("store: the Lingma login host %s shared through the database is not readable",
                        host[:80])
            return None

    # -- the marker ------------------------------------------------------------------------
    def marker(self) -> dict[str, Any]:
        """What this host last took from (or was told by) the store; {} when nothing."""
        try:
            value = json.loads((self.login.folder / MARKER).read_text())
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def _save_marker(self, value: dict[str, Any]) -> None:
        path = self.login.folder / MARKER
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(value))
        os.chmod(partial, 0o600)
        os.replace(partial, path)

    def status(self) -> dict[str, Any]:
        """What the page and the admin API say of the shared login: taken from which host, refused."""
        marker = self.marker()
        return {"mode": "db", "taken_from": marker.get("host") if "digest" in marker else None,
                "refused": bool(marker.get("refused"))}
