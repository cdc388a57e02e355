"""One admin view of every worker: two apps (two workers) sharing one work root.

Each app has its own FakePool and WORKER_INDEX, as gunicorn's workers do; a worker's
publisher (ops/workers.py) is ticked by hand, as its Ticker would every second.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import time

import pytest

from lingma_flask import create_app
from lingma_flask.lingma.login import SharedLogin
from lingma_flask.lingma.settings import CoreSettings
from lingma_flask.ops import workers
from lingma_flask.ops.status_files import STALE_SECONDS
from lingma_flask.web import record
from tests.api.fakes import FakePool
from tests.core.simclient import poll

ACCOUNT = "Ada Lovelace"


class Instance:
    """What the admin reads and asks of an instance."""

    def __init__(self, name: str, pid: int):
        self.name, self.pid = name, pid
        self.restarts: list[str] = []

    def request_restart(self, reason: str) -> None:
        self.restarts.append(reason)


class WorkerPool(FakePool):
    """A FakePool with two instances whose health dicts look like LingmaInstance.health()."""

    def __init__(self, root, first_pid: int, *, logged_in: bool = False):
        super().__init__(settings=CoreSettings.from_mapping({"WORK_DIR": str(root)}))
        self.instances = [Instance(f"lingma-{i}", first_pid + i) for i in range(2)]
        self.logged_in = logged_in
        self.state = "ready"

    def health(self):
        return {"ready": self.ready and self.logged_in, "simulator": False, "instances": [
            {"name": i.name, "state": self.state, "logged_in": self.logged_in,
             "account": ACCOUNT if self.logged_in else None, "pid": i.pid, "port": 1000 + i.pid,
             "http_port": 2000 + i.pid, "restarts": len(i.restarts), "last_error": None,
             "in_flight": 0} for i in self.instances]}


@pytest.fixture(autouse=True)
def fresh_requests(monkeypatch):
    """An empty recent-requests list (it is the process's: both apps here share it)."""
    monkeypatch.setattr(record, "RECENT", collections.deque(maxlen=100))


@pytest.fixture
def root(tmp_path):
    return tmp_path / "work"


def worker_app(root, index: int, pool: WorkerPool):
    return create_app({"TESTING": True, "LINGMA_POOL": pool, "WORK_DIR": str(root),
                       "WORKER_INDEX": str(index)})


@pytest.fixture
def pools(root):
    return WorkerPool(root, 100), WorkerPool(root, 200)


@pytest.fixture
def apps(root, pools):
    return worker_app(root, 0, pools[0]), worker_app(root, 1, pools[1])


def publisher(app) -> workers.Publisher:
    return workers.Publisher(app, workers.status_folder(app))


def dead_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def test_the_instances_of_every_live_worker_are_listed_with_their_worker(apps, pools):
    publisher(apps[1]).tick()
    listed = apps[0].test_client().get("/admin/api/instances").get_json()
    by_worker = {(i["worker"], i["name"]): i for i in listed["instances"]}
    assert set(by_worker) == {(0, "lingma-0"), (0, "lingma-1"), (1, "lingma-0"), (1, "lingma-1")}
    assert by_worker[(1, "lingma-1")]["pid"] == 201 and by_worker[(0, "lingma-1")]["pid"] == 101
    assert all(i["worker_pid"] == os.getpid() for i in listed["instances"])
    assert listed["answered_by"] == {"index": 0, "pid": os.getpid(), "host": workers.this_host(apps[0])}
    assert [w["index"] for w in listed["workers"]] == [0, 1]


def test_a_worker_that_has_not_published_is_not_listed(apps):
    listed = apps[0].test_client().get("/admin/api/instances").get_json()
    assert {i["worker"] for i in listed["instances"]} == {0}


def test_the_files_of_dead_and_silent_workers_are_ignored(apps, root):
    publisher(apps[1]).tick()
    status = root / "status"
    state = json.loads((status / "w1.json").read_text())
    (status / "w2.json").write_text(json.dumps({**state, "index": 2, "pid": dead_pid()}))
    (status / "w3.json").write_text(json.dumps({**state, "index": 3,
                                                "updated": time.time() - STALE_SECONDS - 1}))
    (status / "w4.json").write_text("{not json")
    client = apps[0].test_client()
    assert {i["worker"] for i in client.get("/admin/api/instances").get_json()["instances"]} == {0, 1}
    for worker in (2, 3, 4):
        resp = client.post("/admin/api/instances/lingma-0/restart", json={"worker": worker})
        assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "instance_not_found"


def test_the_requests_of_every_worker_are_merged_newest_first(apps, pools):
    first = apps[1].test_client().post("/v1/chat/completions", json={
        "model": "qwen3-coder", "messages": [{"role": "user", "content": "secret prompt"}]})
    assert first.status_code == 200
    publisher(apps[1]).tick()
    record.RECENT.clear()  # both apps share this process's list; worker 1's is in its file now
    failed = apps[0].test_client().post("/v1/chat/completions", json={
        "model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]})
    assert failed.status_code == 404
    listed = apps[0].test_client().get("/admin/api/requests").get_json()["requests"]
    assert [(r["worker"], r["status"]) for r in listed] == [(0, 404), (1, 200)]
    assert listed[0]["error"] == failed.get_json()["error"]["code"] and listed[1]["error"] is None
    assert listed[0]["time"] >= listed[1]["time"]
    assert "secret prompt" not in json.dumps(listed)


def test_a_restart_of_another_workers_instance_is_done_by_that_worker(apps, pools):
    publisher_1 = publisher(apps[1])
    publisher_1.tick()
    resp = apps[0].test_client().post("/admin/api/instances/lingma-1/restart", json={"worker": 1})
    assert resp.status_code == 202
    assert resp.get_json() == {"restarting": "lingma-1", "worker": 1, "pid": os.getpid()}
    assert [i.restarts for i in pools[0].instances + pools[1].instances] == [[], [], [], []]
    publisher_1.tick()
    assert [len(i.restarts) for i in pools[1].instances] == [0, 1]
    assert "another worker" in pools[1].instances[1].restarts[0]
    publisher_1.tick()  # the request was taken once
    assert [len(i.restarts) for i in pools[0].instances + pools[1].instances] == [0, 0, 0, 1]


def test_a_restart_of_this_workers_instance_is_at_once(apps, pools):
    client = apps[0].test_client()
    for body in ({"worker": 0}, {}, None):
        resp = client.post("/admin/api/instances/lingma-0/restart", json=body)
        assert resp.status_code == 202 and resp.get_json()["worker"] == 0
    assert [len(i.restarts) for i in pools[0].instances] == [3, 0]
    assert client.post("/admin/api/instances/lingma-0/restart?worker=0").status_code == 202


def test_a_restart_names_an_instance_that_exists(apps):
    publisher(apps[1]).tick()
    client = apps[0].test_client()
    assert client.post("/admin/api/instances/lingma-9/restart", json={"worker": 1}).status_code == 404
    assert client.post("/admin/api/instances/lingma-0/restart", json={"worker": 7}).status_code == 404
    for bad in ("one", -1, True, 1.5, "1" * 9):
        resp = client.post("/admin/api/instances/lingma-0/restart", json={"worker": bad})
        assert resp.status_code == 400 and resp.get_json()["error"]["param"] == "worker", bad


def test_a_restart_asked_of_an_earlier_process_is_dropped(apps, pools):
    workers.status_folder(apps[0]).ask_restart(1, dead_pid(), "lingma-0")
    publisher(apps[1]).tick()
    assert pools[1].instances[0].restarts == []
    assert list((workers.status_folder(apps[1]).restarts).iterdir()) == []


def test_an_unchanged_state_is_rewritten_only_as_a_heartbeat(apps, pools, root):
    publisher_1 = publisher(apps[1])
    publisher_1.tick()
    written = json.loads((root / "status" / "w1.json").read_text())["updated"]
    publisher_1.tick()
    assert json.loads((root / "status" / "w1.json").read_text())["updated"] == written
    pools[1].state = "reconnecting"
    publisher_1.tick()
    state = json.loads((root / "status" / "w1.json").read_text())
    assert state["updated"] > written and state["instances"][0]["state"] == "reconnecting"


def test_a_worker_publishes_on_its_ticker_and_withdraws_when_it_stops(apps, root):
    path = root / "status" / "w1.json"
    workers.start_publishing(apps[1])
    try:
        poll(path.exists, 10, "worker 1's status file", interval=0.05)
    finally:
        workers.stop_publishing(apps[1])
    assert not path.exists()


def test_without_a_worker_index_an_app_sees_only_itself(root, pools, apps):
    publisher(apps[1]).tick()
    alone = create_app({"TESTING": True, "LINGMA_POOL": pools[0], "WORK_DIR": str(root)})
    listed = alone.test_client().get("/admin/api/instances").get_json()
    assert {i["worker"] for i in listed["instances"]} == {None}
    assert workers.start_publishing(alone) is None


# -- the login, the same from every worker (issue 15, item 5) --------------------------------

def shared_login(root) -> SharedLogin:
    return SharedLogin(root / "login")


def publish_login(root, user: bytes) -> None:
    folder = root / "login"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "id").write_text("machine-id")
    (folder / "user").write_bytes(user)


def test_a_worker_not_yet_synced_says_logged_in_when_the_shared_login_exists(apps, root):
    client = apps[0].test_client()
    assert client.get("/admin/api/login").get_json()["state"] == "none"
    publish_login(root, json.dumps({"name": ACCOUNT, "id": "1"}).encode())
    assert client.get("/admin/api/login").get_json() == {
        "state": "logged_in", "login_url": None, "account": ACCOUNT}
    page = client.get("/admin/").get_data(as_text=True)
    assert f"Logged in as {ACCOUNT}" in page


def test_a_shared_login_record_without_a_readable_name_gives_no_account(apps, root):
    publish_login(root, b"\x00encrypted-record\xff")
    assert apps[0].test_client().get("/admin/api/login").get_json() == {
        "state": "logged_in", "login_url": None, "account": None}


def test_another_workers_logged_in_instance_counts_and_names_the_account(apps, pools):
    pools[1].logged_in = True
    publisher(apps[1]).tick()
    answer = apps[0].test_client().get("/admin/api/login").get_json()
    assert answer["state"] == "logged_in" and answer["account"] == ACCOUNT


def test_after_a_logout_instances_still_logging_out_do_not_count(apps, pools, root):
    pools[0].logged_in = True
    client = apps[0].test_client()
    assert client.get("/admin/api/login").get_json()["state"] == "logged_in"
    shared_login(root).mark_logged_out()
    assert client.get("/admin/api/login").get_json()["state"] == "none"


def test_a_pending_login_is_reported_by_every_worker(apps, root):
    shared_login(root).save_pending({"login_url": "https://devops.aliyun.com/x", "expected": {}})
    for app in apps:
        answer = app.test_client().get("/admin/api/login").get_json()
        assert answer["state"] == "pending" and answer["login_url"] == "https://devops.aliyun.com/x"
