"""`open_database`, and what the app needs of the store whether or not it is on: no SQLAlchemy.

The names the faces and ops need at import time live here (APP_KEY, `Unavailable`).
SQLAlchemy (some 14 MB a worker) loads in `open_database`, and only when the settings turn the
store on: with LINGMA_STORE=off a worker never imports it. So this module imports no SQLAlchemy,
and neither may the modules that the app imports whatever the setting (ops/usage.py,
ops/workers.py, api/state.py): the store's SQL modules are imported by the code that runs when
a database exists.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

from ..lingma.settings import CoreSettings
from .settings import StoreSettings

if TYPE_CHECKING:
    from .database import Database

APP_KEY = "lingma_shared_state"   # where ops puts the app's SharedState, and the faces find it


class Unavailable(Exception):
    """The database could not be read: the value may exist, but nobody can tell now."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.reason = why


def open_database(values: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Database | None:
    """The store the settings ask for (None with LINGMA_STORE=off, and SQLAlchemy not loaded).

    `values` are the LINGMA_* settings without the prefix (Flask config, `environment()`);
    DATABASE_URL is read from `environ` (the process's environment by default).
    """
    settings = StoreSettings.from_mapping(values)
    if not settings.enabled:
        return None
    from . import url as urls
    from .database import Database

    root = CoreSettings.from_mapping(values).work_root()
    url = urls.resolve(settings.url, os.environ if environ is None else environ, root)
    return Database(settings, url, host=settings.host_name, migrate_in_child=True)
