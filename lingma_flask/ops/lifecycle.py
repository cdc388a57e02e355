"""The worker's side of the pool's life, called from gunicorn.conf.py hooks.

Start the pool after gevent patched the worker, drain open streams as soon as the worker is
told to stop (before gunicorn's graceful_timeout turns into SIGKILL), stop it on exit.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time

from ..web.connection import WATCHDOG
from . import alert_watch
from . import metrics
from . import usage
from . import workers

log = logging.getLogger(__name__)

# Seconds kept before gunicorn's graceful_timeout to end chats cleanly: after a chat ends its
# connection may wait out gunicorn's keepalive before the worker can exit.
DRAIN_MARGIN = 2.0


def start_worker(app, worker) -> None:
    """Start the app's pool in the background and watch for the worker's shutdown."""
    pool = app.extensions["lingma"]
    pool.start()  # non-blocking; the pool itself logs the simulator banner
    worker.on_exit_signal = pool.begin_shutdown
    watcher = threading.Thread(target=watch_worker, args=(worker, pool),
                               name="lingma-drain-watch", daemon=True)
    watcher.start()
    start_operator_threads(app)
    atexit.register(stop_worker, app)


def start_operator_threads(app) -> None:
    """Start this worker's metrics poller, its status publisher (the admin's view of every
    worker), its store writer and, if a webhook is set, its alert watcher."""
    app.extensions["lingma"].on_queue_wait = metrics.observe_queue_wait
    metrics.start_poller(app)
    workers.start_publishing(app)
    alert_watch.start_watching(app)
    usage.start_writer(app)


def watch_worker(worker, pool, interval: float = 0.5) -> None:
    """Once the worker is told to stop, let open chats finish, then end the rest.

    gunicorn kills the worker at `graceful_timeout`; chats still open a few seconds before
    that are ended with a shutdown error (retry) rather than cut mid-data.
    """
    while worker.alive:
        time.sleep(interval)
    pool.begin_shutdown()  # also when the worker stopped without a SIGTERM (max requests, USR2)
    WATCHDOG.drain()  # clients blocked in a write get a short grace, then are dropped
    cfg = worker.cfg
    margin = DRAIN_MARGIN + float(getattr(cfg, "keepalive", 0) or 0)
    grace = max(1.0, float(getattr(cfg, "graceful_timeout", 20)) - margin)
    log.info("worker shutting down: open chats get %g s to finish", grace)
    deadline = time.monotonic() + grace
    while pool.open_streams() and time.monotonic() < deadline:
        time.sleep(interval)
    if pool.open_streams():
        log.info("ending %d chat(s) still open", pool.drain("The gateway is shutting down"))


def stop_worker(app) -> None:
    """Stop the app's pool once (worker_exit, then the atexit backstop)."""
    if app.extensions.get("lingma_stopped"):
        return
    app.extensions["lingma_stopped"] = True
    stop_operator_threads(app)
    app.extensions["lingma"].stop()


def stop_operator_threads(app) -> None:
    """Stop the metrics poller, the status publisher, the alert watcher and the store writer
    (if they run) without holding up the exit."""
    alert_watch.stop_watching(app, timeout=1.0)
    metrics.stop_poller(app, timeout=1.0)
    workers.stop_publishing(app, timeout=1.0)
    usage.stop_writer(app, timeout=2.0)  # its last flush: the rows of the worker's last requests



def start_on_first_request(app) -> None:
    """Start the pool lazily for servers without our gunicorn hooks (`flask run`)."""
    started: list[bool] = []

    @app.before_request
    def ensure_pool_started():
        if not started:
            started.append(True)
            app.extensions["lingma"].start()  # idempotent: a no-op under gunicorn
            atexit.register(stop_worker, app)
