"""The Lingma login as the page and the admin API report it: the same answer from every worker.

A login made through one worker's Lingma reaches the other instances seconds later (through
the shared login folder, lingma/login.py), so the answer does not wait for this worker's own
instances: the gateway is logged in as soon as the shared login exists, or as soon as any
worker's instance (ops/workers.py) is logged in, unless an operator has logged out since.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from ..lingma.login import SharedLogin

NAME_LIMIT = 200
LOGIN_SHARE = "lingma_login_share"   # the store's LoginShare, set by ops/fleet.py (LINGMA_SHARE_LOGIN=db)


def login_state(login: SharedLogin, instances: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Return `{"state": "logged_in" | "pending" | "none", "login_url", "account"}`.

    `instances` are the health dicts of every worker's instances. The account is the display
    name Lingma's `auth/status` gives (`name`), from a logged-in instance, else the `name` of
    the shared login record when it is readable JSON (the simulator's; Lingma's own is not).
    """
    logged_in = [i for i in instances if i.get("state") == "ready" and i.get("logged_in")]
    account = next((str(i["account"]) for i in logged_in if i.get("account")), None)
    if login.has_login():
        return {"state": "logged_in", "login_url": None, "account": account or shared_account(login)}
    pending = login.pending()
    if pending:
        return {"state": "pending", "login_url": pending.get("login_url"), "account": None}
    if logged_in and login.logged_out_at() is None:  # not published yet (a seeded start)
        return {"state": "logged_in", "login_url": None, "account": account}
    return {"state": "none", "login_url": None, "account": None}


def shared_account(login: SharedLogin) -> str | None:
    """The display name in the shared login record, if it is JSON with a `name`."""
    try:
        record = json.loads((login.folder / "user").read_bytes())
    except (OSError, ValueError):
        return None
    name = record.get("name") if isinstance(record, dict) else None
    return name[:NAME_LIMIT] if isinstance(name, str) and name else None


def login_status(app: Any) -> dict[str, Any] | None:
    """What the admin API and page say of the login shared by hosts (LINGMA_SHARE_LOGIN=db):
    `{"mode": "db", "taken_from": host or None, "refused": bool}`; None when not shared."""
    share = app.extensions.get(LOGIN_SHARE)
    return None if share is None else share.status()
