"""The gunicorn hooks' helpers: start in the background, drain on shutdown, stop once."""

import threading
import time

from lingma_flask.ops import lifecycle


class FakeWorker:
    alive = True


def test_start_then_drain_when_the_worker_stops(make_app, pool, monkeypatch):
    monkeypatch.setattr(lifecycle.atexit, "register", lambda *a: None)
    worker = FakeWorker()
    lifecycle.start_worker(make_app(), worker)
    assert pool.started == 1 and pool.drained == []
    worker.alive = False
    deadline = time.monotonic() + 3
    while not pool.drained and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool.drained == ["server shutting down"]


def test_watch_worker_returns_after_draining(pool):
    worker = FakeWorker()
    thread = threading.Thread(target=lifecycle.watch_worker, args=(worker, pool, 0.01))
    thread.start()
    worker.alive = False
    thread.join(2)
    assert not thread.is_alive() and pool.drained


def test_stop_runs_once(make_app, pool):
    app = make_app()
    lifecycle.stop_worker(app)
    lifecycle.stop_worker(app)  # worker_exit, then the atexit backstop
    assert pool.stopped == 1
