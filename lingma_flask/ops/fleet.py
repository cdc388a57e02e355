"""The store's view of the fleet: limits across workers and hosts, every worker's heartbeat,
and the Lingma login shared by hosts (opt-in).

`init_app` (create_app, after the store is opened by ops/usage.py) gives the store's writer:

* the key counters (store/counters.py) between this worker's `KeyLedger` (web/ledger.py) and
  the database, when some key has an `rpm` or `daily_tokens` limit;
* this worker's heartbeat (store/heartbeats.py): its instances, for every host's status page
  (ops/workers.py lists them);
* with LINGMA_SHARE_LOGIN=db, the login shared by hosts (store/login_share.py), encrypted with
  LINGMA_SECRET_KEY.

All of it runs in the writer, off the request path; nothing here without the store: create_app
imports this module (and with it SQLAlchemy) only when the store is on.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask

from ..lingma.login import SharedLogin
from ..lingma.settings import CoreSettings
from ..store import counters as key_counters
from ..store import heartbeats as beats
from ..store.counters import KeyCounters
from ..store.database import Database
from ..store.heartbeats import Heartbeats
from ..web.limits import LEDGER
from . import metrics
from . import usage
from . import workers
from .login_state import LOGIN_SHARE


def init_app(app: Flask) -> None:
    """Wire the store's shared parts into this app's writer (nothing without the store)."""
    database = usage.store_of(app)
    if database is None:
        return
    limits, ledger = app.extensions["lingma_api"].key_limits, app.extensions[LEDGER]
    if any(limit.rpm is not None or limit.daily_tokens is not None
           for limit in (limits.default, *limits.keys.values())):
        share_counts(database, KeyCounters(ledger.take_deltas, ledger.set_shared, buffer=database.settings.buffer))
    publish_heartbeats(app, database)
    if database.settings.share_login:
        share_login(app, database)


def share_counts(database: Database, counters: KeyCounters) -> None:
    """Have the writer carry this worker's key counts to the others' and back."""
    counters.buffer.on_drop = metrics.observe_store_dropped
    database.add_feed(counters.feed)
    database.add_sink(counters.buffer, counters.write)
    database.add_reader(counters.read, due=at_most_twice_an_interval(database))
    database.add_chore("key counts retention", key_counters.RETENTION_EVERY, counters.retention)


def publish_heartbeats(app: Flask, database: Database) -> Heartbeats:
    """Have the writer publish this worker's instances and read every worker's."""
    heartbeats = Heartbeats(lambda: workers.heartbeat_state(app), host=database.rows.host,
                            interval=database.settings.interval, stopping=lambda: database.writer.stopping)
    app.extensions[workers.FLEET] = (database, heartbeats)
    database.add_reader(heartbeats.run, due=heartbeats.due)
    database.add_chore("worker heartbeats retention", beats.RETENTION_EVERY, heartbeats.retention)
    return heartbeats


def at_most_twice_an_interval(database: Database) -> Callable[[], bool]:
    """A reader's `due`: not in a round that comes less than half an interval after the last it
    allowed (the writer is woken early to share a response at once: that needs no reading
    back), except in the worker's last round."""
    gap, last = database.settings.interval / 2, [float("-inf")]

    def due() -> bool:
        now = time.monotonic()
        if now - last[0] >= gap or database.writer.stopping:
            last[0] = now
            return True
        return False
    return due


def share_login(app: Flask, database: Database) -> object:
    """Have the writer carry the Lingma login between this host and the others."""
    # imported here: they load `cryptography`, which only a shared login needs
    from ..store import login_share
    from ..store.sealed import Sealer

    folder = SharedLogin(CoreSettings.from_mapping(app.config).login_root())
    share = login_share.LoginShare(folder, Sealer(str(app.config["SECRET_KEY"])), host=database.rows.host,
                                   accepted=lambda: lingma_accepts(app))
    app.extensions[LOGIN_SHARE] = share
    database.add_chore("the shared Lingma login", login_share.EVERY, share.run)
    return share


def lingma_accepts(app: Flask) -> bool | None:
    """Whether a Lingma of this worker is logged in; None while none is ready (nothing to judge)."""
    ready = [i for i in getattr(app.extensions.get("lingma"), "instances", []) if i.ready]
    if any(i.logged_in for i in ready):
        return True
    return False if ready else None
