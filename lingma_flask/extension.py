"""Register the Lingma pool on the app (extension style) and reach it from views.

Views and hooks reach the current app and request some thirty times a chat. Flask's
`current_app`, `g` and `request` are werkzeug `LocalProxy` objects: each read goes through two
Python layers (~0.9 µs) before it gets to the context variable Flask itself reads.
`current()`, `app_globals()` and `current_request()` read those variables
(`flask.globals._cv_app` and `_cv_request`, there since Flask 2.2) directly, for the hot
paths; tests/api/test_factory.py checks that they agree with the proxies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask import Request
from flask.ctx import AppContext
from flask.ctx import _AppCtxGlobals
from flask.globals import _cv_app
from flask.globals import _cv_request

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


def _app_context() -> AppContext:
    context = _cv_app.get(None)
    if context is None:
        raise RuntimeError("Working outside of application context.")
    return context


def current() -> Flask:
    """The app of the current application context, as `flask.current_app` is (RuntimeError
    outside one, as Flask raises)."""
    return _app_context().app


def app_globals() -> _AppCtxGlobals:
    """The current application context's `g`, as `flask.g` is."""
    return _app_context().g


def current_request() -> Request:
    """The request of the current request context, as `flask.request` is."""
    context = _cv_request.get(None)
    if context is None:
        raise RuntimeError("Working outside of request context.")
    return context.request


def get_pool():
    """Return the current app's LingmaPool."""
    try:
        return current().extensions["lingma"]
    except KeyError:
        raise RuntimeError("No Lingma pool on this app: build it with create_app().") from None


def get_settings() -> ApiSettings:
    """Return the current app's API settings."""
    return current().extensions["lingma_api"]


def get_observers() -> Observers:
    """Return the current app's observation hooks (what metrics and alerts subscribed to)."""
    return of_app(current())
