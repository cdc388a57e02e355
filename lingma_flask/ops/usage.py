"""Usage per key for the operator: the store wired into the app, GET /admin/api/usage, the page's part.

`init_app` opens the app's store (lingma_flask/store/; none with LINGMA_STORE=off, nor in a
test app given neither a work dir nor a database); `start_writer` subscribes its recorder to
the request log's `request_logged` hook and starts its writer with the worker, `stop_writer`
writes the last rows as the worker exits (ops/lifecycle.py). Reads (the API, the page, the
command line) query the database directly: the operator's side may wait for it, the API
requests never do.

SQLAlchemy loads only with the store on (store/door.py): the store's query module is imported
by the functions that run when a database exists, and a read's errors are `Database.ERRORS`.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import current_app
from flask import request
from markupsafe import Markup

from ..logs import register_secrets
from ..observe import of_app
from ..store.door import APP_KEY
from ..store.door import open_database
from ..store.writer import reason
from ..web.errors import ApiError
from . import admin
from . import metrics
from .usage_chart import chart_svg
from .usage_chart import days_between

if TYPE_CHECKING:
    from ..store import usage as queries
    from ..store.database import Database

log = logging.getLogger(__name__)

STORE = "lingma_store"
DEFAULT_SINCE = "7d"
# what a filter may name (anything else cannot match a row, and would reach the database as it is)
KEY_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
ROUTE = re.compile(r"/[!-~]{0,199}")
CHART_DAYS = 14
PAGE_ROWS = 50

bp = Blueprint("usage", __name__, url_prefix="/admin/api")
bp.before_request(admin.require_admin)


def init_app(app: Flask) -> None:
    """Open the app's store (no connection yet), count its buffers in the metrics, and register
    GET /admin/api/usage."""
    app.extensions[STORE] = database = _open(app)
    app.register_blueprint(bp)
    if database is None:
        return
    register_secrets([database.url.password])  # a driver's error message might repeat it
    database.usage.on_drop = metrics.observe_store_dropped
    database.state.buffer.on_drop = metrics.observe_store_dropped
    app.extensions[APP_KEY] = database.state   # the faces' kept state (api/state.py)
    database.writer.on_tick = lambda _rows: _observe_buffers(database)


def listen(app: Flask) -> Database | None:
    """Have the app's store hear the request log (from now on); return the store."""
    database = store_of(app)
    if database is not None:
        of_app(app).request_logged.subscribe(database.recorder)
    return database


def _open(app: Flask) -> Database | None:
    configured = app.config.get("WORK_DIR") or app.config.get("DATABASE_URL")
    if app.testing and not configured:
        return None  # never the user's real data dir from a test
    return open_database(app.config)


def _observe_buffers(database: Database) -> None:
    for sink in database.writer.sinks:
        metrics.observe_store_buffered(len(sink.buffer), sink.buffer.name)


def store_of(app: Flask) -> Database | None:
    """The app's store (None when off)."""
    return app.extensions.get(STORE)


def start_writer(app: Flask) -> None:
    """Record usage from now on: the worker starts its store writer (its first round migrates).

    Only gunicorn's workers do (ops/lifecycle.py), as they run the metrics poller: a test app
    or `flask run` buffers no rows that nothing would write.
    """
    database = listen(app)
    if database is not None:
        log.info("store: %s, written every %g s", database.describe(), database.settings.interval)
        database.start()


def stop_writer(app: Flask, timeout: float = 2.0) -> None:
    """Write what is buffered and stop the writer (the worker exits)."""
    database = store_of(app)
    if database is not None:
        database.stop(timeout)


# -- GET /admin/api/usage ------------------------------------------------------------------
@bp.get("/usage")
def show_usage():
    """Usage since `?since=` (7d; an age or an ISO time), per day and key, and the newest requests;
    `?key=`, `?route=`, `?status=` filter both, `?limit=` (100, at most 1000) bounds the requests."""
    database = require_store()
    from ..store import usage as queries  # SQLAlchemy: only with a database

    where = read_filter(request.args)
    limit = read_int(request.args.get("limit"), "limit", 100)
    try:
        with database.connect() as connection:
            days = queries.daily(connection, where)
            rows = queries.history(connection, where, limit)
    except database.ERRORS as exc:
        raise unavailable(exc) from None
    return {"since": where.since.isoformat() + "Z", "key": where.key, "route": where.route,
            "status": where.status, "database": database.describe(),
            "days": [{**day, "day": day["day"].isoformat()} for day in days],
            "requests": [json_row(row) for row in rows],
            "buffered": database.writer.buffered(), "dropped": database.writer.dropped()}


def require_store() -> Database:
    """The app's store, or a 404 that says it is off."""
    database = store_of(current_app)
    if database is None:
        raise ApiError(404, "Usage is not recorded: LINGMA_STORE is off.", code="store_off")
    return database


def unavailable(exc: BaseException) -> ApiError:
    """The 503 of a database that cannot be read now."""
    return ApiError(503, f"The store's database cannot be read now ({reason(exc)}).",
                    code="store_unavailable", headers={"Retry-After": "5"})


def read_filter(args: Mapping[str, str]) -> queries.Filter:
    """The query's filter from `since`, `key`, `route` and `status` (400 for a bad one)."""
    from ..store import usage as queries  # SQLAlchemy: only with a database (its two callers)

    try:
        since = queries.parse_since(args.get("since") or DEFAULT_SINCE)
    except ValueError as exc:
        raise ApiError(400, str(exc), param="since", code="invalid_value") from None
    key, route, status = (args.get(name) or None for name in ("key", "route", "status"))
    if key is not None and not KEY_NAME.fullmatch(key):
        raise ApiError(400, "key is an API key's name: 1-64 letters, digits, '.', '_' or '-'.",
                       param="key", code="invalid_value")
    if route is not None and not ROUTE.fullmatch(route):
        raise ApiError(400, "route is a route pattern such as /v1/chat/completions.", param="route",
                       code="invalid_value")
    return queries.Filter(since=since, key=key, route=route,
                          status=None if status is None else read_int(status, "status", 0))


def read_int(value: str | None, name: str, default: int) -> int:
    """A whole number from a query argument (400 otherwise)."""
    if value in (None, ""):
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 6):
        raise ApiError(400, f"{name} must be a whole number.", param=name, code="invalid_value")
    return int(value)


def json_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A history row as JSON: its time in ISO 8601 UTC."""
    return {**row, "at": row["at"].isoformat(timespec="milliseconds") + "Z"}


# -- the status page -----------------------------------------------------------------------
def page_view(args: Mapping[str, str]) -> dict[str, Any]:
    """The page's usage section: the chart of the last CHART_DAYS days and the filtered history."""
    database = store_of(current_app)
    view: dict[str, Any] = {"usage_on": database is not None, "usage_error": None, "usage_chart": None,
                            "usage_rows": [], "usage_keys": [], "usage_routes": [],
                            "usage_filter": {name: args.get(name, "") for name in ("key", "route", "status")}}
    if database is None:
        return view
    from ..store import usage as queries  # SQLAlchemy: only with a database

    today = queries.utcnow().date()
    first = today - datetime.timedelta(days=CHART_DAYS - 1)
    since = datetime.datetime.combine(first, datetime.time())
    try:
        try:
            where = dataclasses.replace(read_filter(args), since=since)
        except ApiError:   # a hand-edited address: the page shows everything rather than an error
            where = queries.Filter(since=since)
        with database.connect() as connection:
            daily = queries.daily(connection, queries.Filter(since=since))
            view["usage_rows"] = queries.history(connection, where, PAGE_ROWS)
            view["usage_keys"], view["usage_routes"] = queries.keys_and_routes(connection, since)
    except database.ERRORS as exc:
        view["usage_error"] = f"The store's database cannot be read now ({reason(exc)})."
        return view
    view["usage_chart"] = Markup(chart_svg(daily, days_between(first, today)))  # escaped inside
    return view
