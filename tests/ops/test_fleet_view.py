"""The admin's view of every host with the store: heartbeats list another host's workers, the recent
requests come from the usage table, and key counts and the shared login are wired into the writer.

One app (a worker of host "this-host") with a store in a temp dir; "another host" is a second
Heartbeats, and usage rows, written to the same database. The writer's rounds are run by hand.
"""

from __future__ import annotations

import datetime
import os

import pytest
from sqlalchemy import insert
from sqlalchemy import select

from lingma_flask.ops import usage as ops_usage
from lingma_flask.ops import workers
from lingma_flask.ops.login_state import LOGIN_SHARE
from lingma_flask.settings_reader import SettingError
from lingma_flask.store import tables
from lingma_flask.store.heartbeats import Heartbeats
from lingma_flask.store.usage import utcnow
from tests.pg import wait_for

ADMIN = {"Authorization": "Bearer admin-key-XYZ-123"}
CHAT = {"model": "qwen3-coder", "messages": [{"role": "user", "content": "hi"}]}
SECRET = "a-secret-of-the-whole-team-0123"


@pytest.fixture
def config(tmp_path):
    return {"WORK_DIR": str(tmp_path / "work"), "ADMIN_KEY": "admin-key-XYZ-123",
            "API_KEYS": "alice:sk-alice-0123456789", "KEY_LIMITS": '{"alice": {"daily_tokens": 100000}}'}


@pytest.fixture
def store(app):
    database = ops_usage.store_of(app)
    database.ensure_schema()
    return database


def other_host(store, worker: str = "other-0") -> Heartbeats:
    """A worker of another host, its heartbeat written to the same database."""
    state = {"ready": True, "simulator": True, "index": 0,
             "instances": [{"name": "lingma-0", "state": "ready", "logged_in": True}]}
    beat = Heartbeats(lambda: state, host="other-host", worker=lambda: worker)
    with store.engine.begin() as connection:
        beat.run(connection)
    return beat


def test_the_writer_carries_key_counts_heartbeats_and_no_login_unless_asked(app, client, store):
    assert client.post("/v1/chat/completions", json=CHAT,
                       headers={"Authorization": "Bearer sk-alice-0123456789"}).status_code == 200
    store.writer.flush()                            # one round: the ledger's counts out, the heartbeat
    with store.connect() as connection:
        counts = connection.execute(select(tables.key_counts.c.key, tables.key_counts.c.period,
                                           tables.key_counts.c.requests)).all()
        beats = connection.execute(select(tables.workers.c.host, tables.workers.c.pid)).all()
    assert sorted(tuple(row) for row in counts) == [("alice", "day", 1), ("alice", "minute", 1)]
    assert [tuple(row) for row in beats] == [(workers.this_host(app), os.getpid())]
    assert app.extensions[workers.FLEET][0] is store
    assert LOGIN_SHARE not in app.extensions


def test_no_key_counts_without_a_per_minute_or_daily_limit(make_app, tmp_path):
    app = make_app(WORK_DIR=str(tmp_path / "w2"), API_KEYS="alice:sk-alice-0123456789",
                   KEY_LIMITS='{"*": {"concurrent": 2}}')
    assert [sink.buffer.name for sink in ops_usage.store_of(app).writer.sinks if sink.buffer.name == "key_counts"] == []


def test_another_hosts_workers_are_listed_with_their_host_and_cannot_be_restarted_here(app, client, store):
    other_host(store)
    assert client.get("/admin/api/instances", headers=ADMIN).get_json()["instances"][0].get("remote") is False
    store.writer.flush()                            # this worker's round: its heartbeat, the listing
    listed = client.get("/admin/api/instances", headers=ADMIN).get_json()
    remote = [i for i in listed["instances"] if i["remote"]]
    assert [(i["host"], i["name"], i["worker"]) for i in remote] == [("other-host", "lingma-0", 0)]
    assert {(w["host"], w["remote"]) for w in listed["workers"]} == {
        (workers.this_host(app), False), ("other-host", True)}
    refused = client.post("/admin/api/instances/lingma-0/restart", headers=ADMIN,
                          json={"worker": 0, "host": "other-host"})
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "instance_on_another_host"
    garbled = client.post("/admin/api/instances/lingma-0/restart", headers=ADMIN, json={"worker": 0, "host": {}})
    assert garbled.status_code == 400 and garbled.get_json()["error"]["param"] == "host"


def test_the_recent_requests_come_from_the_usage_table_of_every_host(app, client, store):
    with store.engine.begin() as connection:
        connection.execute(insert(tables.usage).values(
            at=utcnow() - datetime.timedelta(seconds=5), day=utcnow().date(), host="other-host", pid=777,
            key="alice", route="/v1/responses", status=200, stream=True, total_ms=12, prompt_tokens=1,
            completion_tokens=2, request_id="req_elsewhere"))
    ops_usage.listen(app)
    store.start()                                   # as a gunicorn worker's writer runs
    try:
        assert client.post("/v1/chat/completions", json=CHAT,
                           headers={"Authorization": "Bearer sk-alice-0123456789"}).status_code == 200

        def listed():
            found = client.get("/admin/api/requests", headers=ADMIN).get_json()["requests"]
            return found if len(found) == 2 else None
        here, elsewhere = wait_for(listed, timeout=30)
        assert (here["route"], here["key"], here["remote"]) == ("/v1/chat/completions", "alice", False)
        assert (elsewhere["id"], elsewhere["host"], elsewhere["worker_pid"], elsewhere["remote"]) == (
            "req_elsewhere", "other-host", 777, True)
    finally:
        store.stop()


def test_sharing_the_login_needs_the_secret_key(make_app, tmp_path):
    with pytest.raises(SettingError) as refused:
        make_app(WORK_DIR=str(tmp_path / "w3"), SHARE_LOGIN="db")
    assert refused.value.name == "LINGMA_SECRET_KEY"
    app = make_app(WORK_DIR=str(tmp_path / "w4"), SHARE_LOGIN="db", SECRET_KEY=SECRET)
    assert app.extensions[LOGIN_SHARE].status() == {"mode": "db", "taken_from": None, "refused": False}
    assert any(chore.name == "the shared Lingma login" for chore in ops_usage.store_of(app).writer.chores)
