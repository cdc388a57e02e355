"""GET /health (liveness, minimal), GET /ready (readiness), /admin/api/health (details)."""

import os
import threading

import pytest

REMOTE = {"REMOTE_ADDR": "10.0.0.5"}


def test_health_says_only_status_and_simulator_to_anyone(client, pool):
    pool.using_simulator = True
    resp = client.get("/health", environ_base=REMOTE)
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "simulator": True}


def test_health_is_200_even_when_lingma_is_not_ready(client, pool):
    pool.ready = False
    assert client.get("/health").status_code == 200


def test_ready_is_200_when_an_instance_is_ready(client):
    resp = client.get("/ready", environ_base=REMOTE)
    assert resp.status_code == 200
    assert resp.get_json() == {"ready": True, "instances": [{"name": "fake-0", "reason": "ready"}]}


def test_not_ready_is_503_with_a_reason_per_instance(client, pool):
    pool.ready = False
    resp = client.get("/ready")
    assert resp.status_code == 503 and resp.mimetype == "application/json"
    assert resp.get_json() == {"ready": False, "instances": [{"name": "fake-0", "reason": "starting"}]}
    assert resp.headers["x-request-id"]


def test_a_running_but_logged_out_instance_says_not_logged_in(client, pool, monkeypatch):
    monkeypatch.setattr(pool, "health", lambda: {"ready": False, "instances": [
        {"name": "lingma-0", "state": "ready", "logged_in": False, "account": "a@b.c", "pid": 7}]})
    body = client.get("/ready").get_data(as_text=True)
    assert '"reason":"not_logged_in"' in body and "a@b.c" not in body and "7" not in body


@pytest.mark.parametrize("config_key, headers, environ, status", [
    (None, {}, {}, 200),
    (None, {}, REMOTE, 401),
    ("admin-secret", {}, {}, 401),
    ("admin-secret", {"Authorization": "Bearer wrong"}, {}, 401),
    ("admin-secret", {"Authorization": "Bearer admin-secret"}, REMOTE, 200),
])
def test_pool_details_need_the_admin_key(make_app, config_key, headers, environ, status):
    config = {"API_KEYS": "k"} if environ else {}
    if config_key:
        config["ADMIN_KEY"] = config_key
    client = make_app(**config).test_client()
    resp = client.get("/admin/api/health", headers=headers, environ_base=environ)
    assert resp.status_code == status
    if status == 200:
        assert resp.get_json()["instances"][0]["name"] == "fake-0"
    else:
        assert resp.get_json()["error"]["code"] == "invalid_admin_key"


def test_runtime_counts_come_only_when_a_local_client_asks(client):
    assert "runtime" not in client.get("/admin/api/health").get_json()
    runtime = client.get("/admin/api/health?runtime=1").get_json()["runtime"]
    assert runtime["pid"] == os.getpid()
    assert runtime["threads"] == threading.active_count()
    assert runtime["greenlets"] >= 0 and runtime["native_threads"] >= 1


def test_runtime_counts_are_not_shown_to_remote_operators(make_app):
    client = make_app(API_KEYS="k", ADMIN_KEY="admin-secret").test_client()
    resp = client.get("/admin/api/health?runtime=1", environ_base=REMOTE,
                      headers={"Authorization": "Bearer admin-secret"})
    assert resp.status_code == 200 and "runtime" not in resp.get_json()


def test_runtime_counts_see_a_new_thread_and_a_new_greenlet():
    from lingma_flask.ops.runtime import runtime_counts

    greenlet = pytest.importorskip("greenlet")
    main = greenlet.getcurrent()   # this thread's main greenlet exists from now on
    before = runtime_counts()
    release = threading.Event()
    thread = threading.Thread(target=release.wait, daemon=True)
    thread.start()
    parked = greenlet.greenlet(lambda: None)   # created, not started: alive
    try:
        after = runtime_counts()
        assert after["threads"] == before["threads"] + 1
        assert after["native_threads"] == before["native_threads"] + 1
        assert after["greenlets"] == before["greenlets"] + 1
    finally:
        release.set()
        thread.join(5)
    parked.switch()   # runs to its end: dead
    assert runtime_counts()["greenlets"] == before["greenlets"] and not main.dead
