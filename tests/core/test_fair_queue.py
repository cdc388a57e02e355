"""Fair queuing in the pool: while every slot is taken, tenants take turns (weighted fair queuing).

The pool runs over fake instances here (no Lingma): what is tested is the order in which the
pool hands freed slots to the chats waiting in `_acquire`.
"""

from __future__ import annotations

import threading

import pytest

from lingma_flask.lingma import errors
from lingma_flask.lingma.fairqueue import FairQueue
from lingma_flask.lingma.instance import wait_until
from lingma_flask.lingma.pool import LingmaPool
from lingma_flask.lingma.settings import CoreSettings

WAIT = 30.0  # a deadline for polls, never a measured time


class FakeChat:
    """What a fake instance's ask returns: closing it frees the pool slot, as a ChatStream does."""

    def __init__(self, prompt: str, on_close) -> None:
        self.prompt = prompt
        self._on_close = on_close

    def close(self) -> None:
        self._on_close(self)


class FakeInstance:
    """A ready, logged-in instance that records the prompts it was asked, in order."""

    def __init__(self, name: str = "fake-0") -> None:
        self.name = name
        self.in_flight = 0
        self.logged_in = self.ready = True
        self.state = "ready"
        self.asked: list[str] = []
        self.chats: dict[str, FakeChat] = {}

    def routable(self) -> bool:
        return True

    def open_streams(self) -> int:
        return self.in_flight

    def health(self) -> dict:
        return {"name": self.name, "state": self.state, "in_flight": self.in_flight}

    def ask(self, prompt, model_key, *, mode, on_close=None, images=()):
        chat = FakeChat(prompt, on_close)
        self.chats[prompt] = chat
        self.asked.append(prompt)
        return chat


@pytest.fixture
def pool(tmp_path):
    """A pool of one fake instance taking one chat at a time, with a long queue timeout."""
    pool = LingmaPool(CoreSettings(work_dir=str(tmp_path), max_concurrency=1, queue_timeout=60.0))
    pool.instances = [FakeInstance()]
    pool._started = True
    return pool


def ask_in_background(pool: LingmaPool, prompt: str, tenant: str | None, failures: list) -> threading.Thread:
    def run() -> None:
        try:
            pool.ask(prompt, None, tenant=tenant)
        except errors.LingmaError as exc:
            failures.append((prompt, exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def release_next(pool: LingmaPool) -> str:
    """Close the chat admitted last; return the prompt of the one admitted in its place."""
    instance = pool.instances[0]
    admitted = len(instance.asked)
    instance.chats[instance.asked[-1]].close()
    assert wait_until(lambda: len(instance.asked) > admitted, WAIT), instance.asked
    return instance.asked[-1]


def test_a_polite_tenant_is_admitted_within_two_releases_of_a_greedy_ones_flood(pool):
    failures: list = []
    instance = pool.instances[0]
    pool.ask("greedy holder", None, tenant="greedy")   # the one slot is taken
    for n in range(50):
        ask_in_background(pool, f"greedy {n}", "greedy", failures)
    assert wait_until(lambda: pool.queued() == 50, WAIT), pool.queued()
    ask_in_background(pool, "polite", "polite", failures)
    assert wait_until(lambda: pool.queued() == 51, WAIT), pool.queued()

    admitted = [release_next(pool), release_next(pool)]
    assert admitted == ["polite", "greedy 0"]   # at the very next release, within two as asked
    assert pool.queued() == 49  # the greedy flood still waits behind
    assert pool.health()["queued"] == 49
    while pool.queued():
        release_next(pool)
    assert len(instance.asked) == 52 and not failures
    instance.chats[instance.asked[-1]].close()
    assert instance.in_flight == 0


def test_weights_share_the_slots_in_proportion(pool):
    failures: list = []
    pool.tenant_weight = lambda tenant: 3 if tenant == "heavy" else 1
    pool.ask("holder", None, tenant="light")
    for n in range(9):
        ask_in_background(pool, f"heavy {n}", "heavy", failures)
        assert wait_until(lambda n=n: pool.queued() == n + 1, WAIT)
    for n in range(3):
        ask_in_background(pool, f"light {n}", "light", failures)
        assert wait_until(lambda n=n: pool.queued() == 10 + n, WAIT)
    order = [release_next(pool).split()[0] for _ in range(12)]
    assert order == ["heavy"] * 3 + ["light"] + ["heavy"] * 3 + ["light"] + ["heavy"] * 3 + ["light"]
    assert not failures


def test_capacity_goes_to_the_queue_before_a_newcomer(pool):
    failures: list = []
    instance = pool.instances[0]
    pool.ask("holder", None, tenant="a")
    ask_in_background(pool, "waiting", "a", failures)
    assert wait_until(lambda: pool.queued() == 1, WAIT)
    pool.settings = pool.settings.replace(max_concurrency=2)  # a slot appears unannounced
    ask_in_background(pool, "newcomer", "a", failures)
    assert wait_until(lambda: instance.asked[-1:] == ["waiting"], WAIT), instance.asked
    assert wait_until(lambda: pool.queued() == 1, WAIT)  # the newcomer waits its turn
    assert instance.asked == ["holder", "waiting"] and instance.in_flight == 2
    assert release_next(pool) == "newcomer" and not failures


def test_a_waiter_past_the_queue_timeout_is_busy_and_leaves_the_queue(tmp_path):
    pool = LingmaPool(CoreSettings(work_dir=str(tmp_path), max_concurrency=1, queue_timeout=0.2))
    pool.instances = [FakeInstance()]
    pool._started = True
    held = pool.ask("holder", None, tenant="a")
    with pytest.raises(errors.LingmaBusyError) as info:
        pool.ask("too late", None, tenant="b")
    assert info.value.retry_after and "concurrent chats" in info.value.message
    assert pool.queued() == 0
    held.close()
    pool.ask("next", None, tenant="b")   # the slot is free again and nobody waits
    assert pool.instances[0].asked == ["holder", "next"] and pool.instances[0].in_flight == 1


def test_the_queue_shares_by_weight_and_forgets_who_left():
    queue: FairQueue[str] = FairQueue(lambda tenant: 2 if tenant == "b" else 1)
    for item in ("a1", "a2", "a3"):
        queue.push("a", item)
    for item in ("b1", "b2", "b3"):
        queue.push("b", item)
    queue.push(None, "local1")
    assert queue.remove("a", "a2") and not queue.remove("a", "a2") and len(queue) == 6
    assert queue.counts() == {"a": 2, "b": 3, None: 1}
    assert [queue.pop() for _ in range(7)] == ["a1", "b1", "local1", "b2", "a3", "b3", None]
    assert len(queue) == 0 and queue.counts() == {}


def test_slots_taken_without_waiting_count_and_idle_tenants_save_no_credit():
    queue: FairQueue[str] = FairQueue()
    for _ in range(5):
        queue.served("busy")          # five chats admitted at once while slots were free
    queue.push("busy", "busy-1")
    queue.push("late", "late-1")      # arrives second, but has had nothing yet
    assert queue.pop() == "late-1" and queue.pop() == "busy-1"
    for n in range(4):                # "late" goes idle; "busy" keeps its queue going
        queue.push("busy", f"busy-{n + 2}")
        assert queue.pop() == f"busy-{n + 2}"
    for n in range(3):
        queue.push("busy", f"busy-{n + 6}")
    for n in range(3):
        queue.push("late", f"late-{n + 2}")   # back after a pause, with no credit saved while idle
    order = [queue.pop().split("-")[0] for _ in range(6)]
    assert order[:4].count("late") == 2, order   # turns about, not "late" four times in a row


def test_shares_are_exact_for_any_weight_the_settings_allow():
    # 97 and 89 share no factor: over one chat of virtual time each tenant gets exactly its
    # weight's count of slots, and the next two tie at time 1 ("b" first: its turn was set
    # first, after b88 at 88/89 < a96 at 96/97). A 1/weight rounded down would let "a" in a
    # 98th time before the tie.
    queue: FairQueue[str] = FairQueue(lambda tenant: {"a": 97, "b": 89, "c": 100}[tenant])
    for n in range(100):
        queue.push("a", f"a{n}")
        queue.push("b", f"b{n}")
    firsts = [queue.pop() for _ in range(97 + 89)]
    assert sum(item.startswith("a") for item in firsts) == 97
    assert sum(item.startswith("b") for item in firsts) == 89
    assert [queue.pop(), queue.pop()] == ["b89", "a97"]
