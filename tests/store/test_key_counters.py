"""Key limits across workers and hosts: two ledgers, each with its own store writer, on one database.

Each "worker" is a `KeyLedger` and a `Database` (its writer) wired as ops/fleet.py wires them,
with its own worker id and one injected clock; a writer's round is `flush()` (its feed, its
sink and its reader). Nothing sleeps: the tests advance the clock and call the rounds.
"""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func
from sqlalchemy import select

from lingma_flask.keylimits import Limit
from lingma_flask.store import tables
from lingma_flask.store.counters import KeyCounters
from lingma_flask.web.ledger import KeyLedger
from lingma_flask.web.ledger import OverLimit

from .test_writer import FlakyEngine

START = 1_900_000_000.0 - 1_900_000_000.0 % 86_400 + 3600   # 01:00 UTC on some day


class Clock:
    """A settable time.time()."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class Worker:
    """One worker's ledger and store."""

    ledger: KeyLedger
    database: object
    counters: KeyCounters

    def round(self) -> None:
        """One round of the writer: this worker's counts out, the others' back in."""
        self.database.writer.flush()

    def admit(self, limit: Limit, tokens: int = 0, name: str = "alice") -> bool:
        """One chat of `name`, ended at once with `tokens`; False when a limit refused it."""
        try:
            hold = self.ledger.admit(name, limit)
        except OverLimit as over:
            self.refused = over.limit
            return False
        hold.finish(tokens)
        return True


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def workers(make_database, clock):
    """Make workers on the test's database (SQLite, then PostgreSQL), each with its own id."""
    made = []

    def make() -> Worker:
        ledger = KeyLedger(clock=clock)
        database = make_database()
        database.ensure_schema()
        name = f"worker-{len(made)}"
        counters = KeyCounters(ledger.take_deltas, ledger.set_shared, buffer=100, clock=clock,
                               worker=lambda: name)
        database.add_feed(counters.feed)
        database.add_sink(counters.buffer, counters.write)
        database.add_reader(counters.read)
        made.append(Worker(ledger, database, counters))
        return made[-1]

    return make


def rows(database) -> int:
    with database.connect() as connection:
        return connection.execute(select(func.count()).select_from(tables.key_counts)).scalar()


def test_a_keys_daily_budget_holds_across_two_workers(workers):
    one, two = workers(), workers()
    budget = Limit(daily_tokens=1000)
    assert one.admit(budget, tokens=600)
    one.round()
    two.round()                       # two reads what one counted
    assert two.ledger.usage("alice")["day_tokens"] == 600
    assert two.admit(budget, tokens=600)   # 600 < 1000: admitted; its tokens take the key over
    assert not two.admit(budget) and two.refused == "daily_tokens"
    two.round()
    one.round()
    assert one.ledger.usage("alice")["day_tokens"] == 1200   # its own 600 and two's, not its own twice
    assert not one.admit(budget) and one.refused == "daily_tokens"
    assert two.ledger.usage("alice")["day_tokens"] == 1200


def test_the_budget_is_kept_within_the_bound_when_both_workers_keep_asking(workers, clock):
    """Each round both workers admit what they can (up to 3 chats of 100 tokens), then both write
    and read: together they stop within what they admit in one round of the budget."""
    one, two = workers(), workers()
    budget, per_round = Limit(daily_tokens=1000), 3
    admitted = 0
    for _ in range(20):
        for worker in (one, two):
            admitted += sum(worker.admit(budget, tokens=100) for _ in range(per_round))
        one.round()
        two.round()
        clock.now += 1
    assert 10 <= admitted <= 10 + 2 * per_round   # 1000 tokens, plus at most one round of both
    assert not one.admit(budget) and not two.admit(budget)
    # the same asking without the store: each worker spends the whole budget on its own
    alone = [KeyLedger(clock=clock) for _ in range(2)]
    spent = 0
    for ledger in alone:
        for _ in range(20):
            try:
                ledger.admit("alice", budget).finish(100)
                spent += 1
            except OverLimit:
                break
    assert spent == 20


def test_requests_per_minute_hold_across_workers_and_start_afresh_each_minute(workers, clock):
    one, two = workers(), workers()
    rpm = Limit(rpm=5)
    assert all(one.admit(rpm) for _ in range(3))
    one.round()
    two.round()
    assert two.admit(rpm) and two.admit(rpm)     # 3 elsewhere + 2 here
    assert not two.admit(rpm) and two.refused == "rpm"
    two.round()
    one.round()
    assert not one.admit(rpm) and one.refused == "rpm"
    clock.now += 60                                # the next minute: the others' minute is over
    one.round()
    assert one.ledger.usage("alice")["minute_requests"] == 0
    assert one.admit(rpm)


def test_totals_read_just_before_a_minute_ends_are_not_counted_in_the_next(workers, clock):
    one, two = workers(), workers()
    clock.now = START + 59.5
    assert all(one.admit(Limit(rpm=5)) for _ in range(5))
    one.round()
    two.round()                                    # read at :59.5: five for that minute
    clock.now = START + 60.5
    assert two.admit(Limit(rpm=5))                 # a new minute: the five are not this one's
    two.ledger.set_shared("alice", 5, 0, at=START + 59.5)   # a late reading says the same
    assert two.ledger.usage("alice")["minute_requests"] == 1


def test_every_key_counts_for_itself(workers):
    one, two = workers(), workers()
    limit = Limit(rpm=2)
    assert one.admit(limit, name="alice") and one.admit(limit, name="alice")
    one.round()
    two.round()
    assert not two.admit(limit, name="alice")
    assert two.admit(limit, name="bob") and two.admit(limit, name="bob")


def test_while_the_database_is_away_counts_wait_and_arrive_after(workers):
    one, two = workers(), workers()
    budget = Limit(daily_tokens=1000)
    flaky = FlakyEngine(one.database)
    one.database.writer.engine = flaky
    flaky.down = True
    assert one.admit(budget, tokens=700)
    one.round()
    assert flaky.failed and len(one.counters.buffer) == 1   # kept for the next round
    two.round()
    assert two.admit(budget, tokens=700)          # two cannot know: the documented outage bound
    flaky.down = False
    one.round()
    two.round()
    assert len(one.counters.buffer) == 0
    assert not two.admit(budget)
    assert two.ledger.usage("alice")["day_tokens"] == 1400


def test_old_windows_are_deleted_by_the_retention_chore(workers, clock):
    one = workers()
    assert one.admit(Limit(rpm=5), tokens=10)
    one.round()
    assert rows(one.database) == 2                 # the minute's row and the day's
    clock.now += 3 * 60
    with one.database.engine.begin() as connection:
        one.counters.retention(connection)
    assert rows(one.database) == 1                 # the day is not over
    clock.now += 2 * 86_400
    with one.database.engine.begin() as connection:
        one.counters.retention(connection)
    assert rows(one.database) == 0


def test_a_worker_adds_to_its_own_rows_one_row_per_key_and_window(workers):
    one = workers()
    for _ in range(3):
        assert one.admit(Limit(rpm=50), tokens=5)
        one.round()
    with one.database.connect() as connection:
        found = connection.execute(select(tables.key_counts.c.period, tables.key_counts.c.requests,
                                          tables.key_counts.c.tokens).order_by(tables.key_counts.c.period)).all()
    assert [tuple(row) for row in found] == [("day", 3, 15), ("minute", 3, 0)]
