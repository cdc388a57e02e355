"""The gunicorn hooks' helpers: start in the background, let chats finish on shutdown, stop once."""

import threading
import time
import types

from lingma_flask.ops import lifecycle


class FakeWorker:
    alive = True
    cfg = types.SimpleNamespace(graceful_timeout=4, keepalive=1)  # 1 s of grace before the drain


def watch(worker, pool):
    thread = threading.Thread(target=lifecycle.watch_worker, args=(worker, pool, 0.01))
    thread.start()
    return thread


def test_start_then_end_the_chats_still_open_when_the_grace_runs_out(make_app, pool, monkeypatch):
    monkeypatch.setattr(lifecycle.atexit, "register", lambda *a: None)
    pool.open = 2
    worker = FakeWorker()
    lifecycle.start_worker(make_app(), worker)
    assert pool.started == 1 and pool.drained == []
    assert worker.on_exit_signal == pool.begin_shutdown  # the worker's SIGTERM tells the pool at once
    worker.alive = False
    deadline = time.monotonic() + 5
    while not pool.drained and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool.drained == ["The gateway is shutting down"] and pool.shutting_down


def test_chats_that_finish_in_time_are_not_ended(pool):
    pool.open = 1
    worker = FakeWorker()
    thread = watch(worker, pool)
    worker.alive = False
    time.sleep(0.2)
    pool.open = 0  # the chat finished by itself
    thread.join(3)
    assert not thread.is_alive() and pool.drained == []


def test_stop_runs_once(make_app, pool):
    app = make_app()
    lifecycle.stop_worker(app)
    lifecycle.stop_worker(app)  # worker_exit, then the atexit backstop
    assert pool.stopped == 1
