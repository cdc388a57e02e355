"""The background writer: batches, an outage (rows kept, logged once, caught up), a bounded buffer."""

from __future__ import annotations

import datetime
import logging

import pytest
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from lingma_flask.store import tables
from lingma_flask.store import usage
from lingma_flask.store import writer as writer_module
from lingma_flask.store.buffer import Buffer
from tests.pg import wait_for

from .sample import fields


def count_rows(database) -> int:
    with database.connect() as connection:
        return connection.execute(select(func.count()).select_from(tables.usage)).scalar()


def commits(database) -> list[int]:
    """A list that grows by one per committed transaction on the database's engine."""
    seen: list[int] = []
    event.listen(database.engine, "commit", lambda _connection: seen.append(1))
    return seen


class FlakyEngine:
    """The database's engine, or an outage: `begin()` fails while `down` is set."""

    def __init__(self, database) -> None:
        self.database = database
        self.down = False
        self.failed = 0

    def __call__(self):
        return self

    def begin(self):
        if self.down:
            self.failed += 1
            raise OperationalError("INSERT INTO usage ...", {"prompt": "secret words"},
                                   ConnectionRefusedError("connection refused"))
        return self.database.engine.begin()


def test_a_flush_writes_every_buffered_row_in_one_transaction(database):
    for n in range(5):
        database.recorder(fields(n))
    other = Buffer[dict]("other", 10)
    written: list[int] = []
    database.add_sink(other, lambda connection, items: written.append(len(items)))
    other.append({"x": 1})
    seen = commits(database)
    assert database.writer.flush() == 6
    assert len(seen) == 1 and written == [1]   # both sinks, one transaction
    assert len(database.usage) == 0 and len(other) == 0
    assert count_rows(database) == 5


def test_a_large_backlog_is_written_in_batches_of_short_statements(database, monkeypatch):
    monkeypatch.setattr(writer_module, "BATCH", 40)
    monkeypatch.setattr(writer_module, "CHUNK", 15)
    sink = database.writer.sinks[0]
    statements: list[int] = []
    insert_rows = sink.write
    sink.write = lambda connection, items: (statements.append(len(items)), insert_rows(connection, items))
    for n in range(100):
        database.recorder(fields(n))
    seen = commits(database)
    assert database.writer.flush() == 100
    assert len(seen) == 3    # transactions of 40 + 40 + 20
    assert statements == [15, 15, 10, 15, 15, 10, 15, 5]
    assert count_rows(database) == 100


def test_an_outage_keeps_the_rows_logs_once_and_catches_up(database, caplog):
    flaky = FlakyEngine(database)
    database.writer.engine = flaky
    for n in range(3):
        database.recorder(fields(n))
    flaky.down = True
    with caplog.at_level(logging.INFO, logger=writer_module.__name__):
        for _ in range(4):
            assert database.writer.tick() == 0
            database.recorder(fields(100 + _))
        assert flaky.failed == 4
        assert len(database.usage) == 7              # nothing lost
        down = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
        assert len(down) == 1                        # one line per outage, not per flush
        assert "secret words" not in down[0] and "INSERT" not in down[0]   # no SQL, no parameters
        assert "ConnectionRefusedError" in down[0]
        flaky.down = False
        assert database.writer.tick() == 7
    back = [r.getMessage() for r in caplog.records if "available again" in r.getMessage()]
    assert len(back) == 1 and "7 buffered rows caught up, 0 dropped" in back[0]
    assert count_rows(database) == 7 and database.writer.outage_since is None


def test_a_full_buffer_drops_rows_and_counts_them(make_database, caplog):
    database = make_database(buffer=5)
    database.ensure_schema()
    drops: list[str] = []
    database.usage.on_drop = drops.append
    flaky = FlakyEngine(database)
    database.writer.engine = flaky
    flaky.down = True
    with caplog.at_level(logging.INFO, logger=writer_module.__name__):
        for n in range(8):
            database.recorder(fields(n))
            database.writer.tick()
        assert len(database.usage) == 5
        assert database.writer.dropped() == 3 and drops == ["usage"] * 3
        full = [r for r in caplog.records if "buffer full" in r.getMessage()]
        assert len(full) == 1 and full[0].levelno == logging.WARNING
        flaky.down = False
        database.writer.tick()
    assert count_rows(database) == 5
    assert "5 buffered rows caught up, 3 dropped" in caplog.text


def test_the_thread_flushes_every_interval(make_database):
    database = make_database(interval=0.05)
    database.start()
    database.recorder(fields(1))
    wait_for(lambda: count_rows(database) == 1)   # its first round migrated the database too
    database.recorder(fields(2))
    wait_for(lambda: count_rows(database) == 2)
    assert database.writer.running


def test_a_stopping_writer_flushes_once_more(make_database):
    database = make_database(interval=3600)       # no round before the one at stop
    ticks: list[int] = []
    database.writer.on_tick = ticks.append
    database.start()
    database.recorder(fields(1))
    database.recorder(fields(2))
    database.stop(timeout=30)
    assert not database.writer.running
    assert ticks == [0]                           # one round, after which nothing was left
    assert count_rows(database) == 2


def test_rows_say_what_the_request_log_said(database):
    database.recorder(fields(1, key=None, tool_calls=2, error="lingma_timeout", status=504,
                             prompt="the user's words"))
    database.recorder(fields(2, rule="/admin/api/usage"))   # the operator's side: not usage
    database.recorder(fields(3, rule=None, route="/v1/nope"))   # no route matched: not usage
    database.writer.flush()
    with database.connect() as connection:
        rows = connection.execute(select(tables.usage)).mappings().all()
    assert len(rows) == 1
    row = rows[0]
    assert row["key"] == "local" and row["route"] == "/v1/chat/completions" and row["host"] == "test-host"
    assert (row["status"], row["error"], row["tool_calls"], row["stream"]) == (504, "lingma_timeout", 2, False)
    assert row["at"] == datetime.datetime(2030, 1, 2, 3, 4, 5, 678000) and row["day"] == datetime.date(2030, 1, 2)
    assert row["prompt"] is None   # LINGMA_LOG_PROMPTS is off


def test_prompts_are_kept_only_with_log_prompts(make_database):
    database = make_database(log_prompts=True)
    database.ensure_schema()
    database.recorder(fields(1, prompt="x" * 5000))
    database.writer.flush()
    with database.connect() as connection:
        prompt = connection.execute(select(tables.usage.c.prompt)).scalar()
    assert prompt == "x" * usage.PROMPT_CHARS


@pytest.mark.parametrize("days", [1, 30])
def test_retention_deletes_old_usage_and_expired_state(database, days):
    now = usage.utcnow()
    old, recent = now - datetime.timedelta(days=days, hours=1), now - datetime.timedelta(days=days, hours=-1)
    with database.engine.begin() as connection:
        connection.execute(insert(tables.usage), [
            database.rows.row(fields(n, time=at.isoformat()), 1) for n, at in enumerate((old, recent))])
        connection.execute(insert(tables.shared_state), [
            {"scope": "s", "name": name, "owner": "o", "value": b"v", "size": 1, "created_at": now,
             "expires_at": now + datetime.timedelta(seconds=delta)} for name, delta in (("gone", -1), ("kept", 60))])
    with database.engine.begin() as connection:
        usage.retention(days)(connection)
    with database.connect() as connection:
        assert connection.execute(select(tables.usage.c.request_id)).scalars().all() == ["req_1"]
        assert connection.execute(select(tables.shared_state.c.name)).scalars().all() == ["kept"]


def test_retention_runs_at_most_every_interval(database, monkeypatch):
    runs: list[int] = []
    database.writer.chores[0].run = lambda connection: runs.append(1)
    database.writer.tick()
    database.writer.tick()
    assert runs == [1]   # due again only after RETENTION_EVERY (an hour)
    database.writer.chores[0].due = 0
    database.writer.tick()
    assert runs == [1, 1]


def test_a_round_with_nothing_to_write_and_no_reader_due_opens_no_transaction(database):
    reads, due = [], [False]
    database.add_reader(lambda connection: reads.append(connection), due=lambda: due[0])
    seen = commits(database)
    database.writer.flush()
    assert (seen, reads) == ([], [])               # an idle round: no transaction at all
    due[0] = True
    database.writer.flush()
    assert len(reads) == 1 and len(seen) == 1      # a due reader gets its own transaction
    database.recorder(fields(1))
    due[0] = False
    database.writer.flush()
    assert len(reads) == 1 and len(seen) == 2 and count_rows(database) == 1


def test_a_reader_whose_due_check_fails_reads_and_says_so(database, caplog):
    reads = []

    def broken() -> bool:
        raise RuntimeError("a bug")
    database.add_reader(lambda connection: reads.append(connection), due=broken)
    with caplog.at_level(logging.ERROR, logger=writer_module.__name__):
        database.writer.flush()
    assert len(reads) == 1 and database.writer.outage_since is None
    assert "due check failed" in caplog.text
