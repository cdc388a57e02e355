"""gunicorn settings for lingma-flask: one gevent worker that owns its Lingma processes.

Read by the master before it forks, so besides the stdlib only small modules of the package
are imported here, and they import only the stdlib and gunicorn's own modules (`logs` with
`jsontext`, `web/gunicorn_worker` with `ids`, the worker class, and the settings readers:
`settings_reader`, `config`, `lingma/settings`); app code is imported inside the hooks, which
run in the worker after gevent has patched it.
"""
import gc
import os
import sys

from lingma_flask.config import DEFAULTS
from lingma_flask.config import LOG_FORMATS
from lingma_flask.config import check_settings
from lingma_flask.logs import gunicorn_logconfig
from lingma_flask.settings_reader import SettingError
from lingma_flask.settings_reader import Settings
from lingma_flask.settings_reader import environment
from lingma_flask.web.gunicorn_worker import JsonErrorWorker
from lingma_flask.web.gunicorn_worker import NoAccessLogger


def _setting(read, *args):
    """Return `read(*args)`; a bad setting stops gunicorn with one line that names it."""
    try:
        return read(*args)
    except SettingError as exc:
        # raised from here, gunicorn would print "Failed to read config file" and a traceback
        sys.exit(f"error: {exc}")


# LINGMA_*: the environment's, then the .env file's, as the app reads them. Every setting the
# app reads is checked here too, so a bad one stops the start before any worker boots.
_SETTINGS = Settings(environment())
_setting(check_settings, _SETTINGS.values)

# -- Server socket ------------------------------------------------------------------------
# No `bind`: gunicorn then listens on 0.0.0.0:$PORT when PORT is set (PaaS), else on
# 127.0.0.1:8000 (a local run stays local).
wsgi_app = "wsgi:app"

# -- Worker processes ---------------------------------------------------------------------
# Requests gunicorn itself refuses (before the app sees them) get the face's JSON error
# envelope, not gunicorn's HTML page (lingma_flask/web/gunicorn_worker.py).

# gevent: one worker holds thousands of idle-waiting SSE streams.
worker_class = JsonErrorWorker
# Each worker owns its own Lingma processes (and login work dirs), so the count is ours to
# set: LINGMA_WORKERS, default 1. WEB_CONCURRENCY (set to 2+ by PaaS buildpacks) is ignored.
workers = _setting(_SETTINGS.integer, "WORKERS", DEFAULTS["WORKERS"], 1)
# Concurrent connections (streams) per worker; more wait in the listen backlog.
worker_connections = _setting(_SETTINGS.integer, "WORKER_CONNECTIONS", DEFAULTS["WORKER_CONNECTIONS"], 1)
# Recycling a worker would restart its Lingma processes and cut their streams.
max_requests = 0
# The pool and its threads must start in each worker after gevent patching, never the master.
preload_app = False

# -- Server mechanics ---------------------------------------------------------------------
# For gevent workers this is a heartbeat, not a request deadline: long streams are fine,
# a hub blocked for 30 s is not.
timeout = 30
# Seconds an idle keep-alive connection keeps its slot; also the deadline for a request's
# line and headers, so connections that never send a request are closed after it.
keepalive = 5
# A hard wall on shutdown and reload (LINGMA_GRACEFUL_TIMEOUT, default 25 s): open chats get
# it less keepalive less 2 s to finish (18 s), then end with a shutdown error, so the worker
# exits before the wall and before a PaaS's SIGKILL at 30 s. On a host of your own, raise it
# (and systemd's TimeoutStopSec) for answers that run minutes; see docs/operations.md.
graceful_timeout = _setting(_SETTINGS.integer, "GRACEFUL_TIMEOUT", DEFAULTS["GRACEFUL_TIMEOUT"], 1)
# Limits of a request line and its headers (larger gets a JSON 414 / 431); bodies are limited
# by the app (LINGMA_MAX_BODY_BYTES, LINGMA_BODY_TIMEOUT).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# gunicorn >= 25.1 opens a control socket in $HOME by default; parallel servers would
# take each other's.
control_socket_disable = True

# -- Logging ------------------------------------------------------------------------------
# One format for every line (LINGMA_LOG_FORMAT: json, the default, or text), gunicorn's own
# included, secrets scrubbed; the app writes one line per request (id, route, model,
# instance, status, first-token and total ms), so gunicorn's access line is off.
accesslog = None
logger_class = NoAccessLogger  # nor are its atoms built per request
errorlog = "-"
logconfig_dict = gunicorn_logconfig(_setting(_SETTINGS.choice, "LOG_FORMAT", LOG_FORMATS))


# -- Server hooks -------------------------------------------------------------------------
def on_starting(server):
    """Give this server an empty directory for prometheus-client's per-worker metric files.

    Set before any worker exists (workers inherit the variable and import prometheus_client
    after it is set): $PROMETHEUS_MULTIPROC_DIR if the operator chose one, else a private
    temporary directory, removed again by on_exit.
    """
    import glob
    import tempfile

    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):  # a previous run's values
            os.remove(stale)
    else:
        path = tempfile.mkdtemp(prefix="lingma-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        server.lingma_metrics_tmp = path
    server.log.info("metrics: multiprocess files in %s", path)
    server.handle_hup = _checked_reload(server, server.handle_hup)


def _checked_reload(server, reload):
    """Obey a HUP (reload) only when every setting still reads, LINGMA_API_KEYS_FILE included.

    A reload re-reads this file, and a bad setting here would make the master exit: the
    gateway would go down for a typo in the keys file. Refused, the reload is logged with the
    setting's one-line error and the workers go on with the settings they started with.
    """
    def handle_hup():
        try:
            check_settings(Settings(environment()).values)
        except SettingError as exc:
            server.log.error("reload refused, the gateway goes on unchanged: %s", exc)
            return
        reload()
    return handle_hup


def on_exit(server):
    """Remove the private metrics directory (an operator's own directory is left in place)."""
    import shutil

    path = getattr(server, "lingma_metrics_tmp", None)
    if path:
        shutil.rmtree(path, ignore_errors=True)


def child_exit(server, worker):
    """Drop a dead worker's live gauges (open streams, instance states); counters stay."""
    try:
        # Replacement workers inherit this import made before gevent patches them; harmless,
        # since prometheus-client holds its lock only around file writes, never across a switch.
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
    except Exception:
        server.log.exception("could not drop the metrics of worker %s", worker.pid)


def pre_fork(server, worker):
    """Give the new worker the lowest free index (stable per-worker work dirs on respawn), and
    freeze what the master holds so that it stays shared with the worker."""
    # runs in the master: no app imports here
    used = {getattr(w, "lingma_index", None) for w in server.WORKERS.values()}
    worker.lingma_index = next(i for i in range(len(used) + 1) if i not in used)
    # what the master holds stays shared with the worker: the worker's collector would
    # otherwise write into every inherited object's header and copy its page (~2 MB PSS)
    gc.collect()
    gc.freeze()


def post_fork(server, worker):
    """Tell the app which worker this is: it works in `<LINGMA_WORK_DIR>/w<index>`.

    Always, even with one worker: on a reload (HUP) the new worker starts its Lingma in a free
    index's dirs while the old one still finishes its chats in its own.
    """
    os.environ["LINGMA_WORKER_INDEX"] = str(getattr(worker, "lingma_index", worker.age))


def post_worker_init(worker):
    """Freeze the loaded app for the collector, start the pool in the background and arm the
    drain watcher; never raise."""
    from lingma_flask.lingma.errors import LingmaWorkDirBusyError

    # The app's modules, loaded by now, live as long as the worker. Frozen, they leave the
    # collector's generations: a full collection no longer walks them (40 ms, every few
    # hundred requests). The pool is made after this, so its objects stay collectable.
    gc.collect()
    gc.freeze()

    try:
        from lingma_flask.ops.lifecycle import start_worker

        start_worker(worker.wsgi, worker)
    except LingmaWorkDirBusyError as exc:
        worker.log.error("refusing to start: %s", exc)
        raise  # gunicorn then halts: two gateways must not share Lingma work dirs
    except Exception:
        worker.log.exception("could not start the Lingma pool; requests will get 503")


def worker_exit(server, worker):
    """Stop the pool (its Lingma processes) when the worker exits on its own."""
    try:
        from lingma_flask.ops.lifecycle import stop_worker

        stop_worker(worker.wsgi)
    except Exception:
        worker.log.exception("could not stop the Lingma pool cleanly")
