"""Register the Lingma pool on the app (extension style) and reach it from views."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask import current_app

from .config import ApiSettings
from .lingma.settings import CoreSettings
from .observe import Observers
from .observe import of_app


def core_settings(config: Mapping[str, Any]) -> CoreSettings:
    """Build CoreSettings from config; a WORKER_INDEX gives this worker its own work dir."""
    settings = CoreSettings.from_mapping(config)
    settings = settings.replace(login_dir=str(settings.login_root()))  # before any worker suffix
    index = config.get("WORKER_INDEX")
    if index not in (None, ""):
        settings = settings.replace(work_dir=str(settings.work_root() / f"w{int(index)}"))
    return settings


def init_app(app: Flask) -> None:
    """Put the API settings and the (not yet started) pool into `app.extensions`."""
    if "lingma" in app.extensions:
        raise RuntimeError("The Lingma pool is already registered on this app.")
    app.extensions["lingma_api"] = ApiSettings.from_mapping(app.config)
    pool = app.config.get("LINGMA_POOL")
    if pool is None:
        from .lingma.pool import LingmaPool  # the core is only needed for a real pool

        pool = LingmaPool(core_settings(app.config))
    app.extensions["lingma"] = pool


def get_pool():
    """Return the current app's LingmaPool."""
    try:
        return current_app.extensions["lingma"]
    except KeyError:
        raise RuntimeError("No Lingma pool on this app: build it with create_app().") from None


def get_settings() -> ApiSettings:
    """Return the current app's API settings."""
    return current_app.extensions["lingma_api"]


def get_observers() -> Observers:
    """Return the current app's observation hooks (what metrics and alerts subscribed to)."""
    return of_app(current_app)
