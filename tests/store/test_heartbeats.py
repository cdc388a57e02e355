"""Worker heartbeats: every worker of every host listed from the store, stale ones marked, then dropped.

Two "workers" (on two hosts) each have a Heartbeats on one database (SQLite, then PostgreSQL),
with their own ids and one injected clock; a round is one `run` in a transaction, as the
writer's reader does it.
"""

from __future__ import annotations

import datetime

import pytest
from sqlalchemy import func
from sqlalchemy import select

from lingma_flask.store import tables
from lingma_flask.store.heartbeats import KEEP
from lingma_flask.store.heartbeats import Heartbeats


class Clock:
    def __init__(self) -> None:
        self.now = datetime.datetime(2030, 1, 2, 3, 4, 5)

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


def instance(name: str, state: str = "ready") -> dict:
    return {"name": name, "state": state, "pid": 4242, "logged_in": True, "in_flight": 0}


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def beats(clock):
    """Make a worker's Heartbeats whose state the test sets (`worker.state`)."""
    def make(host: str, worker: str, index: int = 0) -> Heartbeats:
        state = {"ready": True, "simulator": True, "index": index, "instances": [instance("lingma-0")]}
        stopping = {"now": False}
        beat = Heartbeats(lambda: state, host=host, interval=1.0, clock=clock,
                          stopping=lambda: stopping["now"], worker=lambda: worker)
        beat.test_state, beat.test_stopping = state, stopping   # type: ignore[attr-defined]
        return beat
    return make


def run(database, beat: Heartbeats) -> None:
    with database.engine.begin() as connection:
        beat.run(connection)


def seen_at(database, worker: str) -> datetime.datetime | None:
    c = tables.workers.c
    with database.connect() as connection:
        return connection.execute(select(c.seen_at).where(c.worker == worker)).scalar()


def test_every_other_worker_of_every_host_is_listed_with_its_instances(database, beats):
    a0, a1, b0 = beats("host-a", "a0", 0), beats("host-a", "a1", 1), beats("host-b", "b0", 0)
    b0.test_state["instances"] = [instance("lingma-0"), instance("lingma-1", "starting")]
    for beat in (a1, b0, a0):
        run(database, beat)
    listed = a0.listing()
    assert [(w["host"], w["index"]) for w in listed] == [("host-a", 1), ("host-b", 0)]   # not itself
    other = listed[1]
    assert [i["name"] for i in other["instances"]] == ["lingma-0", "lingma-1"]
    assert other["instances"][1]["state"] == "starting"
    assert other["ready"] is True and other["stale"] is False and other["simulator"] is True
    assert isinstance(other["pid"], int) and other["seen"].endswith("Z")


def test_a_worker_not_heard_from_is_marked_stale_then_dropped(database, beats, clock):
    a0, b0 = beats("host-a", "a0"), beats("host-b", "b0")
    run(database, b0)
    run(database, a0)
    clock.advance(a0.stale_after + 1)              # b0 stopped writing (killed, hung)
    run(database, a0)
    [other] = a0.listing()
    assert other["stale"] is True and other["ready"] is False
    clock.advance(KEEP)
    run(database, a0)
    assert a0.listing() == []


def test_a_listing_read_too_long_ago_is_not_trusted(database, beats, clock):
    a0, b0 = beats("host-a", "a0"), beats("host-b", "b0")
    assert a0.listing() is None                    # never read (no writer): the caller's own view
    run(database, b0)
    run(database, a0)
    assert len(a0.listing()) == 1
    clock.advance(a0.stale_after + 1)              # no round since (the database is away)
    assert a0.listing() is None


def test_a_heartbeat_is_rewritten_when_the_state_changes_or_is_due(database, beats, clock):
    a0 = beats("host-a", "a0")
    run(database, a0)
    first = seen_at(database, "a0")
    clock.advance(1)
    run(database, a0)
    assert seen_at(database, "a0") == first        # unchanged, not due: no write
    a0.test_state["instances"] = [instance("lingma-0", "reconnecting")]
    run(database, a0)
    assert seen_at(database, "a0") == clock.now    # changed: written at once
    clock.advance(a0.every)
    run(database, a0)
    assert seen_at(database, "a0") == clock.now    # due


def test_a_stopping_worker_removes_its_row(database, beats):
    a0, b0 = beats("host-a", "a0"), beats("host-b", "b0")
    run(database, a0)
    run(database, b0)
    b0.test_stopping["now"] = True                 # its writer's last round
    run(database, b0)
    assert seen_at(database, "b0") is None
    run(database, a0)
    assert a0.listing() == []


def test_the_rows_of_long_gone_workers_are_deleted(database, beats, clock):
    a0, b0 = beats("host-a", "a0"), beats("host-b", "b0")
    run(database, b0)
    clock.advance(2 * 3600)
    run(database, a0)
    with database.engine.begin() as connection:
        a0.retention(connection)
    with database.connect() as connection:
        assert connection.execute(select(func.count()).select_from(tables.workers)).scalar() == 1


def test_the_database_is_due_only_for_a_change_an_aged_row_or_listing_or_the_last_round(database, beats, clock):
    a0 = beats("host-a", "a0")
    assert a0.due()                                # never written nor read
    run(database, a0)
    assert not a0.due()                            # just written and read, unchanged
    clock.advance(a0.every - 1)
    assert not a0.due()                            # an idle worker's rounds leave the database alone
    a0.test_state["ready"] = False
    assert a0.due()                                # changed: written in this round
    run(database, a0)
    assert not a0.due()
    clock.advance(a0.every)
    assert a0.due()                                # the row and the listing are `every` seconds old
    run(database, a0)
    assert not a0.due()
    a0.test_stopping["now"] = True
    assert a0.due()                                # the last round removes the row
