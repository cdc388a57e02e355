"""Prometheus metrics: the recording calls of the request path and the pool, and their exposition.

The request path reaches them through the app's observation hooks (`init_app` subscribes them;
see lingma_flask/observe.py), never by importing this module.

Every `observe_*` call is plain, cheap and never raises. Label values from clients (models,
tools) and anything else open-ended pass through a `LabelCap`, so the number of series stays
bounded whatever clients send. The route label is the matched URL rule (a fixed set), or
"unmatched" for a request no rule matched: raw paths are never exported. The key label is the
name of a configured API key (a set the configuration bounds); "local" on a gateway without
keys; "other" for anything else (a request refused for its key, a probe); never a key.

Several gunicorn workers: gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR at a private
directory before any worker imports prometheus_client, so each worker writes its values to
its own files there and a scrape answered by any worker merges them all. Counters of a dead
worker stay counted; its live gauges (open streams, instance states) are dropped by the
master's `child_exit` hook. Without that variable (tests, `flask run`) this process's own
registry is exposed.

Instance gauges are per worker (each worker owns its Lingma processes): a `Ticker` in each
worker reads its pool every `POLL_SECONDS`, and the worker answering a scrape refreshes its
own first, so no collector has to reach another worker's pool.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Iterable
from collections.abc import Mapping

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client import multiprocess

from ..observe import of_app
from .labels import OTHER
from .labels import LabelCap
from .labels import choice_label
from .labels import route_label
from .labels import status_label
from .ticker import Ticker

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0
# "ready" means ready and logged in; a connected Lingma without a login is "logged_out"
INSTANCE_STATES = ("stopped", "starting", "ready", "logged_out", "reconnecting", "failed", "closed", OTHER)
KNOWN_STATES = frozenset(INSTANCE_STATES)
TOOL_EVENTS = frozenset({"call", "repair", "failure", "dropped"})
# seconds; answers run from a second to the 600 s total timeout, first tokens up to 60 s
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60)
QUEUE_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

# This process's registry; in multiprocess mode `render` reads the files instead.
REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter("lingma_requests", "HTTP requests answered, by route, status, model and API key name.",
                   ["route", "status", "model", "key"], registry=REGISTRY)
REQUEST_SECONDS = Histogram("lingma_request_duration_seconds", "Time to answer a request in full.",
                            ["route"], buckets=DURATION_BUCKETS, registry=REGISTRY)
FIRST_TOKEN_SECONDS = Histogram("lingma_first_token_seconds", "Time to the first answer chunk.",
                                ["route"], buckets=FIRST_TOKEN_BUCKETS, registry=REGISTRY)
INFLIGHT_STREAMS = Gauge("lingma_inflight_streams", "Streamed answers open now.",
                         registry=REGISTRY, multiprocess_mode="livesum")
QUEUE_SECONDS = Histogram("lingma_queue_wait_seconds", "Time a chat waited for a Lingma slot.",
                          buckets=QUEUE_BUCKETS, registry=REGISTRY)
# livemax + a worker label: one series per worker and instance, gone when the worker dies
INSTANCE_STATE = Gauge("lingma_instance_state", "1 for the state each Lingma instance is in, else 0.",
                       ["worker", "instance", "state"], registry=REGISTRY, multiprocess_mode="livemax")
INSTANCE_RESTARTS = Counter("lingma_instance_restarts",
                            "Lingma processes started again: reason failure (a crash, a hang) or planned"
                            " (an operator's restart, a login sync, a logout).",
                            ["worker", "instance", "reason"], registry=REGISTRY)
LOGGED_IN = Gauge("lingma_logged_in", "1 when the Lingma instance is logged in, else 0.",
                  ["worker", "instance"], registry=REGISTRY, multiprocess_mode="livemax")
BUILD_INFO = Gauge("lingma_flask_build_info", "1 for the gateway's version and its Lingma's (0: an earlier Lingma).",
                   ["version", "lingma_version"], registry=REGISTRY, multiprocess_mode="livemax")
INSTANCE_RECONNECTS = Counter("lingma_instance_reconnects", "Connections to Lingma re-established.",
                              ["worker", "instance"], registry=REGISTRY)
FINISH_CODES = Counter("lingma_finish_codes", "chat/finish status codes from Lingma.",
                       ["code"], registry=REGISTRY)
TOKENS = Counter("lingma_tokens", "Estimated tokens, prompt (in) and answer (out).",
                 ["direction"], registry=REGISTRY)
TOOL_EVENTS_TOTAL = Counter("lingma_tool_events", "Tool calls parsed, repaired or failed, by tool.",
                            ["tool", "event"], registry=REGISTRY)
# the store (lingma_flask/store/): rows waiting for the database, and rows a full buffer refused
STORE_BUFFERED = Gauge("lingma_store_buffered_rows", "Rows waiting in the workers' buffers for the database.",
                       ["table"], registry=REGISTRY, multiprocess_mode="livesum")
STORE_DROPPED = Counter("lingma_store_dropped_rows", "Rows dropped because a worker's buffer was full"
                        " (the database away or too slow).", ["table"], registry=REGISTRY)

_models = LabelCap(100)
_tools = LabelCap(50)
_codes = LabelCap(40, max_len=16)
_instances = LabelCap(32)
_model_names: dict[str, str] = {}   # any name of a model (display name, alias) -> its key
LOCAL_KEY = "local"  # the key label of requests made without a key
_counts_lock = threading.Lock()
_last_counts: dict[tuple[str, str], int] = {}
_warned: set[str] = set()
# the request path's labelled series, by metric and label values (capped, so bounded); a
# `labels()` call takes the metric's lock and checks its values on every request otherwise
_series: dict[tuple[object, tuple[str, ...]], object] = {}


def _never_raises(func):
    """Turn any failure of a recording call into one warning per function (then silence)."""
    @functools.wraps(func)
    def safe(*args, **kwargs) -> None:
        try:
            func(*args, **kwargs)
        except Exception:
            if func.__name__ not in _warned:
                _warned.add(func.__name__)
                log.warning("metrics: %s failed (further failures not logged)", func.__name__, exc_info=True)
    return safe


# -- the request path --------------------------------------------------------------------
def _labelled(metric, *values: str):
    """`metric.labels(*values)`, made once per metric and label values."""
    key = (metric, values)
    series = _series.get(key)
    if series is None:
        series = _series[key] = metric.labels(*values)
    return series


@_never_raises
def observe_request(route: str | None, status: int, model: str | None, total_s: float,
                    first_token_s: float | None = None, tokens_in: int = 0, tokens_out: int = 0,
                    key: str | None = None, key_names: frozenset[str] = frozenset()) -> None:
    """Count one answered request with its latencies and estimated tokens.

    `route` is the matched URL rule (e.g. "/v1/responses/<response_id>"), None if none matched;
    `key` the name of the API key it came with (None: keyless), `key_names` the app's
    configured names (init_app binds them).
    """
    total = max(0.0, float(total_s))  # cast everything first: record all or nothing
    first = None if first_token_s is None else max(0.0, float(first_token_s))
    counts = {"in": int(tokens_in or 0), "out": int(tokens_out or 0)}
    route = route_label(route)
    model = _model_names.get(model, model) if model else model
    _labelled(REQUESTS, route, status_label(status), _models(model), key_label(key, key_names)).inc()
    _labelled(REQUEST_SECONDS, route).observe(total)
    if first is not None:
        _labelled(FIRST_TOKEN_SECONDS, route).observe(first)
    for direction, count in counts.items():
        if count > 0:
            _labelled(TOKENS, direction).inc(count)


@_never_raises
def stream_opened() -> None:
    """Count a streamed answer as open (pair with `stream_closed` in a finally)."""
    INFLIGHT_STREAMS.inc()


@_never_raises
def stream_closed() -> None:
    """Count a streamed answer as closed."""
    INFLIGHT_STREAMS.dec()


@_never_raises
def observe_queue_wait(seconds: float) -> None:
    """Record how long a chat waited for a free Lingma slot."""
    QUEUE_SECONDS.observe(max(0.0, float(seconds)))


@_never_raises
def observe_finish(code: int | str) -> None:
    """Count one chat/finish status code (200, 429, 601, ...)."""
    _labelled(FINISH_CODES, _codes(code)).inc()


@_never_raises
def observe_tool(tool: str, event: str) -> None:
    """Count a tool event: "call", "repair", "failure" or "dropped" (others count as "other")."""
    _labelled(TOOL_EVENTS_TOTAL, _tools(tool), choice_label(event, TOOL_EVENTS)).inc()


@_never_raises
def set_known_models(names: Mapping[str, str]) -> None:
    """Label each model by one name, its key: `names` maps every name a client may use
    (key, display name, alias) to it. Only keys become labels (others: "other"); an empty
    mapping means the first-seen cap."""
    _model_names.clear()
    _model_names.update(names)
    _models.know(set(names.values()))


def key_label(name: str | None, names: frozenset[str]) -> str:
    """The key label of a request: its configured key's name (one of `names`); without one,
    "local" on a gateway that has no keys (this machine's clients), else "other" (a request
    refused for its key, a route that takes none)."""
    if name is None:
        return OTHER if names else LOCAL_KEY
    return name if name in names else OTHER


@_never_raises
def observe_store_buffered(rows: int, table: str = "usage") -> None:
    """Set the rows this worker's store writer still holds (after each of its rounds)."""
    STORE_BUFFERED.labels(table).set(max(0, int(rows)))


@_never_raises
def observe_store_dropped(table: str) -> None:
    """Count one row a full store buffer refused."""
    STORE_DROPPED.labels(table).inc()


def init_app(app) -> None:
    """Subscribe the recording calls above to the app's observation hooks (see observe.py)."""
    observers = of_app(app)
    key_names = frozenset(entry.name for entry in app.extensions["lingma_api"].keys)
    observers.request_finished.subscribe(functools.partial(observe_request, key_names=key_names))
    observers.stream_opened.subscribe(stream_opened)
    observers.stream_closed.subscribe(stream_closed)
    observers.lingma_finish.subscribe(observe_finish)
    observers.tool_event.subscribe(observe_tool)


# -- the pool ----------------------------------------------------------------------------
@_never_raises
def observe_instances(snapshot: Iterable[Mapping]) -> None:
    """Record each instance's state and its restart and reconnect counts (this worker's pool).

    Each dict has `name`, `state`, `logged_in`, `restarts`, `planned_restarts` and
    `reconnects` (missing counts read as 0); the counts are the pool's running totals: their
    increase since the last call is counted.
    """
    worker = os.environ.get("LINGMA_WORKER_INDEX") or "0"
    with _counts_lock:
        for item in snapshot:
            name = _instances(item.get("name"))
            state = choice_label(item.get("state"), KNOWN_STATES)
            if state == "ready" and not item.get("logged_in"):
                state = "logged_out"
            for each in INSTANCE_STATES:
                INSTANCE_STATE.labels(worker, name, each).set(1 if each == state else 0)
            LOGGED_IN.labels(worker, name).set(1 if item.get("logged_in") else 0)
            planned = int(item.get("planned_restarts") or 0)
            failures = int(item.get("restarts") or 0) - planned
            _advance(INSTANCE_RESTARTS.labels(worker, name, "planned"), (name, "planned"), planned)
            _advance(INSTANCE_RESTARTS.labels(worker, name, "failure"), (name, "restarts"), failures)
            _advance(INSTANCE_RECONNECTS.labels(worker, name), (name, "reconnects"), item.get("reconnects"))


def _advance(counter, key: tuple[str, str], total) -> None:
    """Add the growth of a running total to a counter; a smaller total means a new pool."""
    total = int(total or 0)
    last = _last_counts.get(key, 0)
    _last_counts[key] = total
    grown = total - last if total >= last else total
    if grown > 0:
        counter.inc(grown)


def poll_pool(pool, aliases: Mapping[str, str] | None = None) -> None:
    """Refresh the instance metrics and the known model names from this worker's pool."""
    health = pool.health()
    observe_instances(health.get("instances", []))
    observe_build(health.get("instances", []))
    if not health.get("ready"):
        return  # keep the names known so far; models() would also restart failed instances
    try:
        models = pool.models()
    except Exception:  # it stopped being ready meanwhile
        return
    names = {m.display_name: m.key for m in models if m.display_name}
    names.update({m.key: m.key for m in models})
    names.update({alias: names.get(target, target) for alias, target in (aliases or {}).items()})
    set_known_models(names)


_build_labels: tuple[str, str] | None = None


@_never_raises
def observe_build(instances: Iterable[Mapping]) -> None:
    """Set `lingma_flask_build_info` to 1 for this gateway's version and its Lingma's."""
    global _build_labels
    found = next((str(i["lingma_version"]) for i in instances if i.get("lingma_version")), "unknown")
    labels = (version(), found[:40])
    if labels != _build_labels:
        if _build_labels is not None:  # labels cannot be removed in multiprocess mode
            BUILD_INFO.labels(*_build_labels).set(0)
        BUILD_INFO.labels(*labels).set(1)
        _build_labels = labels


@functools.cache
def version() -> str:
    """This gateway's version (the installed distribution's, else the source tree's)."""
    from importlib import metadata
    try:
        return metadata.version("lingma-flask")
    except metadata.PackageNotFoundError:
        return "unknown"


def start_poller(app) -> Ticker:
    """Poll the app's pool every POLL_SECONDS on a daemon thread (one per worker)."""
    pool = app.extensions["lingma"]
    aliases = dict(app.extensions["lingma_api"].model_aliases)
    ticker = Ticker(lambda: poll_pool(pool, aliases), POLL_SECONDS, name="lingma-metrics-poll")
    app.extensions["lingma_metrics_poller"] = ticker.start()
    return ticker


def stop_poller(app, timeout: float = 5.0) -> None:
    """Stop the app's poller, if one runs."""
    ticker = app.extensions.pop("lingma_metrics_poller", None)
    if ticker is not None:
        ticker.stop(timeout)


# -- exposition --------------------------------------------------------------------------
def render() -> bytes:
    """Return the text exposition: all workers' values in multiprocess mode, else this process's."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    return generate_latest(registry)
