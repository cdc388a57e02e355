"""Shared state: a value one worker puts is read by another, at once; scoped, expiring, capped."""

from __future__ import annotations

import datetime
import threading

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from lingma_flask.store import tables
from lingma_flask.store import usage
from lingma_flask.store.database import Database
from lingma_flask.store.settings import StoreSettings
from lingma_flask.store.shared import Unavailable
from lingma_flask.store.url import normalize
from lingma_flask.store.writer import Writer
from tests.pg import free_port
from tests.pg import wait_for

SCOPE = "response"


def value(text: str) -> bytes:
    return f'["{text}"]'.encode()


def row_of(database: Database, name: str):
    with database.connect() as connection:
        return connection.execute(select(tables.shared_state)
                                  .where(tables.shared_state.c.name == name)).first()


def started(make_database, **settings) -> Database:
    """A worker's store, its writer running, on a database migrated beforehand (workers that start
    together on a fresh SQLite file may find it locked by the other's migration for a round)."""
    database = make_database(**settings)
    database.ensure_schema()
    database.start()
    return database


def test_a_value_one_worker_puts_is_read_by_another(make_database):
    one, two = started(make_database, interval=5), started(make_database, interval=5)
    assert one.state.put(SCOPE, "resp_1", "alice", lambda: value("hello"))
    found = two.state.get(SCOPE, "resp_1", "alice")   # waits (up to 5 s) for the row in flight
    assert found is not None and found.value == value("hello")
    assert 0 < found.ttl <= 24 * 3600
    row = row_of(two, "resp_1")
    assert (row.scope, row.owner, row.size) == (SCOPE, "alice", len(value("hello")))
    assert row.expires_at - row.created_at == datetime.timedelta(hours=24)


def test_a_put_wakes_the_writer_long_before_its_interval(make_database):
    database = started(make_database, interval=600)
    database.state.put(SCOPE, "resp_soon", "alice", lambda: value("now"))
    # only the wake-up can write it: the writer's next round is ten minutes away
    assert wait_for(lambda: row_of(database, "resp_soon"), timeout=30).value == value("now")


def test_another_owner_an_expired_row_and_an_absent_one_are_all_none(make_database):
    one, two = started(make_database, interval=0.2), started(make_database, interval=0.2)
    one.state.put(SCOPE, "resp_1", "alice", lambda: value("mine"))
    wait_for(lambda: row_of(one, "resp_1"))
    assert two.state.get(SCOPE, "resp_1", "bob") is None
    assert two.state.get("thread", "resp_1", "alice") is None   # another scope, another name
    assert two.state.get(SCOPE, "resp_absent", "alice") is None
    with two.engine.begin() as connection:
        connection.execute(update(tables.shared_state).values(
            expires_at=usage.utcnow() - datetime.timedelta(seconds=1)))
    assert two.state.get(SCOPE, "resp_1", "alice") is None


def test_the_hourly_retention_deletes_expired_rows_only(make_database):
    database = started(make_database, interval=0.2)
    for name in ("resp_old", "resp_new"):
        database.state.put(SCOPE, name, "alice", lambda: value("x"))
    wait_for(lambda: row_of(database, "resp_new") and row_of(database, "resp_old"))
    with database.engine.begin() as connection:
        connection.execute(update(tables.shared_state).where(tables.shared_state.c.name == "resp_old")
                           .values(expires_at=usage.utcnow() - datetime.timedelta(seconds=1)))
    [chore] = [c for c in database.writer.chores if c.name == "usage retention"]
    assert chore.every == usage.RETENTION_EVERY == 3600
    with database.engine.begin() as connection:
        chore.run(connection)
    assert row_of(database, "resp_old") is None and row_of(database, "resp_new") is not None


def test_a_value_over_the_byte_cap_is_not_shared(make_database, caplog):
    database = started(make_database, interval=0.2, state_max_bytes=12)
    caplog.set_level("DEBUG", logger="lingma_flask.store.shared")
    database.state.put(SCOPE, "resp_big", "alice", lambda: value("x" * 9))    # 13 bytes
    database.state.put(SCOPE, "resp_fits", "alice", lambda: value("x" * 8))   # 12 bytes
    wait_for(lambda: row_of(database, "resp_fits"))   # written after the big one, in order
    assert row_of(database, "resp_big") is None
    assert "resp_big not shared: 13 bytes, over LINGMA_STATE_MAX_BYTES = 12" in caplog.text


def test_a_name_written_again_keeps_its_last_value(make_database):
    database = started(make_database, interval=0.2)
    for text in ("first", "second"):
        database.state.put(SCOPE, "resp_1", "alice", lambda text=text: value(text))
    wait_for(lambda: database.writer.buffered() == 0 and row_of(database, "resp_1"))
    database.state.put(SCOPE, "resp_1", "alice", lambda: value("third"))
    wait_for(lambda: row_of(database, "resp_1").value == value("third"))
    with database.connect() as connection:
        assert connection.execute(select(func.count()).select_from(tables.shared_state)).scalar() == 1


def test_without_a_running_writer_nothing_is_shared_nor_read(make_database):
    database = make_database()
    assert not database.state.put(SCOPE, "resp_1", "alice", lambda: value("x"))
    assert database.state.get(SCOPE, "resp_1", "alice") is None
    assert len(database.state.buffer) == 0 and database._engine is None   # no connection made


def test_a_database_never_reached_is_unavailable_not_absent(tmp_path):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone"   # nobody listens there
    database = Database(StoreSettings(url=url, interval=0.2), normalize(url))
    database.start()
    try:
        with pytest.raises(Unavailable) as info:
            database.state.get(SCOPE, "resp_1", "alice")
        assert info.value.reason == "the database is not reachable or not migrated yet"
    finally:
        database.stop(timeout=5)


def test_a_worker_still_migrating_waits_for_its_first_round_rather_than_refusing(make_database):
    """A worker's first requests may come while its writer's first round still migrates (behind
    another worker's migration): they wait for it, past one interval, instead of a 503."""
    one = started(make_database, interval=5)
    one.state.put(SCOPE, "resp_1", "alice", lambda: value("hello"))
    wait_for(lambda: row_of(one, "resp_1"))
    two = make_database(interval=0.2)
    gate, rounds, found = threading.Event(), [], []
    migrate = two.ensure_schema
    two.writer.prepare = lambda: (gate.wait(30), migrate())
    wake = two.writer.flush_soon
    two.writer.flush_soon = lambda: (rounds.append(1), wake())
    two.start()
    reader = threading.Thread(target=lambda: found.append(two.state.get(SCOPE, "resp_1", "alice")))
    reader.start()
    wait_for(lambda: len(rounds) >= 20)   # polled well past its interval (0.2 s) meanwhile
    assert not found and reader.is_alive()
    gate.set()
    reader.join(30)
    assert found and found[0] is not None and found[0].value == value("hello")


def test_a_database_gone_away_is_unavailable_with_the_drivers_reason(make_database):
    database = started(make_database, interval=0.2)
    database.state.put(SCOPE, "resp_1", "alice", lambda: value("x"))
    wait_for(lambda: row_of(database, "resp_1"))

    def gone():
        raise OperationalError("SELECT ...", {}, ConnectionRefusedError("connection refused"))

    database.state.engine = gone
    with pytest.raises(Unavailable) as info:
        database.state.get(SCOPE, "resp_1", "alice")
    assert info.value.reason == "ConnectionRefusedError: connection refused"


def test_the_writer_is_not_woken_while_the_database_is_away():
    def engine():
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))

    writer = Writer(engine, 600, prepare=lambda: engine())
    writer.flush()
    assert writer.outage_since is not None
    writer.flush_soon()
    assert not writer._wake.is_set()   # it keeps its interval: an outage is not hammered


def test_a_value_that_cannot_be_encoded_is_skipped_not_an_outage(make_database, caplog):
    database = started(make_database, interval=0.2)

    def broken() -> bytes:
        raise TypeError("not JSON")

    database.state.put(SCOPE, "resp_broken", "alice", broken)
    database.state.put(SCOPE, "resp_fine", "alice", lambda: value("fine"))
    wait_for(lambda: row_of(database, "resp_fine"))
    assert row_of(database, "resp_broken") is None and database.writer.outage_since is None
    assert "resp_broken could not be encoded" in caplog.text
