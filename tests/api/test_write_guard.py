"""The write guard's logic with a fake socket and clock: slices, progress, deadlines, drops."""

import json
import socket
import struct
import threading

import pytest
from werkzeug.test import EnvironBuilder

from lingma_flask.web import connection
from lingma_flask.web.connection import DRAIN_GRACE
from lingma_flask.web.connection import WRITE_SLICE
from lingma_flask.web.connection import GuardedBody
from lingma_flask.web.connection import WriteGuard
from lingma_flask.web.connection import guarded_slices
from lingma_flask.web.connection import slices
from tests.pg import wait_for

HI = [{"role": "user", "content": "hi"}]


class FakeSocket:
    """Records what the guard does to the connection."""

    def __init__(self):
        self.calls = []

    def setsockopt(self, level, name, value):
        self.calls.append(("setsockopt", level, name, value))

    def shutdown(self, how):
        self.calls.append(("shutdown", how))

    @property
    def reset(self) -> bool:
        linger = ("setsockopt", socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return self.calls == [linger, ("shutdown", socket.SHUT_RDWR)]


class FakeWatchdog:
    def __init__(self):
        self.armed = []

    def arm(self, guard):
        self.armed.append(guard)

    def disarm(self, guard):
        if guard in self.armed:
            self.armed.remove(guard)


class Queue:
    """The kernel's send queue as the guard sees it (None: not known on this platform)."""

    def __init__(self, value=None):
        self.value = value

    def __call__(self, sock):
        return self.value


def guard(timeout=1.0, deadline=None, queue=None):
    return WriteGuard(FakeSocket(), timeout, deadline, unsent=queue or Queue())


def test_slices_cut_big_chunks_and_pass_small_ones_through():
    big = bytes(range(256)) * 1000
    pieces = list(slices(big))
    assert b"".join(pieces) == big
    assert max(map(len, pieces)) == WRITE_SLICE and len(pieces) == -(-len(big) // WRITE_SLICE)
    small = b"data: {}\n\n"
    assert list(slices(small))[0] is small
    assert list(slices(b"")) == []


def test_a_write_without_progress_is_dropped_after_the_timeout_and_reset():
    g = guard(queue=Queue(5000))
    g.writing(100.0)
    assert not g.check(100.5) and not g.check(101.0)
    assert g.sock.calls == []
    assert g.check(101.25)
    assert g.dropped and g.sock.reset  # RST on close: the kernel frees the unsent data


def test_the_kernel_queue_moving_is_progress_so_a_steady_reader_is_never_cut():
    queue = Queue(3_000_000)
    g = guard(queue=queue)
    g.writing(0.0)  # one slice blocked for a minute on a full send buffer
    for tick in range(1, 240):
        queue.value -= 4000  # the client reads a little every tick
        assert not g.check(tick * 0.25)
    assert not g.check(60.25) and not g.check(60.75)  # the reader stopped at 59.75 s
    assert g.check(60.8)


def test_without_the_kernel_queue_each_slice_handed_over_is_progress():
    g = guard()
    for step in range(100):
        g.writing(step * 0.9)
        assert not g.check(step * 0.9 + 0.85)
        g.written()
    g.writing(100.0)
    assert g.check(101.5)


def test_nothing_is_timed_between_writes():
    g = guard(queue=Queue(5000))
    g.writing(0.0)
    g.written()
    assert not g.check(1000.0)  # a stream waiting for Lingma, however long
    assert g.sock.calls == []


def test_a_stream_still_writing_at_its_deadline_is_dropped():
    queue = Queue(1)
    g = guard(deadline=10.0, queue=queue)
    g.writing(9.0)
    queue.value = 2
    assert not g.check(9.5)
    queue.value = 3
    assert g.check(10.25)


def test_once_draining_a_blocked_slice_gets_only_a_short_grace(monkeypatch):
    queue = Queue(1)
    g = guard(timeout=30.0, queue=queue)
    g.writing(0.0)
    monkeypatch.setattr(connection.WATCHDOG, "draining_since", 5.0)
    queue.value = 2
    assert not g.check(5.0 + DRAIN_GRACE)
    queue.value = 3
    assert g.check(5.1 + DRAIN_GRACE)


def test_after_a_drop_not_one_more_byte_is_written():
    g, watchdog = guard(), FakeWatchdog()
    event = b"data: " + b"x" * (3 * WRITE_SLICE) + b"\n\n"
    written = guarded_slices([event, b"data: [DONE]\n\n"], g, watchdog)
    assert len(next(written)) == WRITE_SLICE and watchdog.armed == [g]
    assert g.check(g.writing_since + 5)  # the write blocked; the watchdog resets the connection
    with pytest.raises(BrokenPipeError):
        next(written)
    assert watchdog.armed == []


def test_a_guarded_body_closes_the_app_body_even_when_never_read():
    closed, watchdog = [], FakeWatchdog()

    class Body(list):
        def close(self):
            closed.append(True)

    GuardedBody(Body([b"x"]), guard(), watchdog).close()
    assert closed == [True] and watchdog.armed == []
    body = GuardedBody(Body([b"x" * (WRITE_SLICE + 1)]), guard(), watchdog)
    next(iter(body))
    body.close()  # the server stops early (the client left): disarmed, app body closed
    assert closed == [True, True] and watchdog.armed == []


def run_app(app, monkeypatch, **request):
    """Call the app as a server would, with a client socket in the environ."""
    guards = []
    monkeypatch.setattr(connection.WATCHDOG, "arm", guards.append)
    environ = EnvironBuilder(method="POST", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                             **request).get_environ()
    environ["gunicorn.socket"] = FakeSocket()
    body = app.wsgi_app(environ, lambda status, headers, exc_info=None: None)
    try:
        pieces = list(body)
    finally:
        body.close()
    return pieces, [g for g in guards if isinstance(g, WriteGuard)]


def test_a_json_answer_is_written_in_guarded_slices(app, pool, monkeypatch):
    pool.script("x" * 100_000)
    pieces, guards = run_app(app, monkeypatch, path="/v1/chat/completions", json={
        "model": "auto", "messages": HI})
    answer = json.loads(b"".join(pieces))
    assert answer["choices"][0]["message"]["content"] == "x" * 100_000
    assert len(pieces) > 5 and max(map(len, pieces)) <= WRITE_SLICE
    assert len(guards) == 1 and guards[0].deadline is None
    assert guards[0].write_timeout == app.extensions["lingma_api"].write_timeout


def test_a_stream_is_guarded_with_its_total_deadline(app, pool, monkeypatch):
    pool.script("x" * 50_000)
    pieces, guards = run_app(app, monkeypatch, path="/v1/chat/completions", json={
        "model": "auto", "stream": True, "messages": HI})
    assert b"".join(pieces).endswith(b"data: [DONE]\n\n")
    assert max(map(len, pieces)) <= WRITE_SLICE
    assert len(guards) == 1 and guards[0].deadline is not None


def test_the_watchdog_sleeps_with_nothing_armed_and_wakes_for_the_next_watch():
    dog = connection.Watchdog()

    class Watch:
        def __init__(self):
            self.checked = threading.Event()

        def check(self, now: float) -> bool:
            self.checked.set()
            return True                             # done: disarmed after this check

    first = Watch()
    dog.arm(first)
    assert first.checked.wait(10)
    wait_for(lambda: not dog.ticking, 10, 0.01)    # nothing armed: it waits for `arm`, no ticks
    second = Watch()
    dog.arm(second)
    assert dog.ticking and second.checked.wait(10)

