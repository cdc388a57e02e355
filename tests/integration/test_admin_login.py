"""The admin API and the headless Lingma login, against real gunicorn workers and simulators.

One login — made through one worker's Lingma, with the callback pasted or opened directly —
reaches every instance of every worker through the shared login folder, survives a restart,
and one logout ends it everywhere. Whichever worker answers, the admin API shows every
worker's instances and requests, and restarts the instance asked for, even another worker's.
"""

from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests

from lingma_flask.lingma.instance import wait_until
from tests.integration.gateway import Gateway

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": "Bearer admin-secret-9"}


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    gateway = Gateway(tmp_path_factory.mktemp("admin") / "work", LINGMA_SIM_LOGGED_IN="0",
                      LINGMA_ADMIN_KEY="admin-secret-9", LINGMA_WORKERS="2",
                      LINGMA_POOL_SIZE="2")
    gateway.start_process()

    seen_ready_by: set[int] = set()

    def both_workers_wait_for_login():
        # each answer lists both workers' instances, the other worker's as it last published
        # them: ready means ready in an answer from each worker, not from one
        body = admin(gateway, "GET", "/instances").json()
        listed = body["instances"]
        if len(listed) == 4 and all(i["state"] == "ready" and not i["logged_in"] for i in listed):
            seen_ready_by.add(body["answered_by"]["pid"])
        return len(seen_ready_by) == 2
    assert wait_until(both_workers_wait_for_login, 60)
    yield gateway
    gateway.stop()


def admin(gw, method, path, **kwargs):
    return requests.request(method, gw.url + "/admin/api" + path, headers=ADMIN, timeout=30, **kwargs)


def logins(gw, pattern="*") -> list[Path]:
    """The work dirs (of every worker and instance) whose Lingma holds a login."""
    return sorted(gw.work_dir.glob(f"w{pattern}/*/cache/user"))


def everyone_logged_in(gw) -> bool:
    """Every instance holds the login and both workers answer that they are logged in."""
    return len(logins(gw)) == 4 and all(
        gw.get("/ready")[0] == 200 and admin(gw, "GET", "/login").json()["state"] == "logged_in"
        for _ in range(6))


def start_login(gw) -> tuple[str, dict]:
    started = admin(gw, "POST", "/login")
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["state"] == "pending" and body["login_url"].startswith("https://devops.aliyun.com/")
    assert f"ssh -L {body['callback_port']}:127.0.0.1:{body['callback_port']}" in body["headless_hint"]
    query = parse_qs(urlsplit(body["login_url"]).query)
    return query["redirect_uri"][0], {"state": query["state"][0], "port": body["callback_port"]}


def test_the_admin_api_needs_the_admin_key(gw):
    assert requests.get(gw.url + "/admin/api/instances", timeout=10).status_code in (200, 401)
    wrong = requests.get(gw.url + "/admin/api/instances", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_admin_key"
    listed = admin(gw, "GET", "/instances").json()
    first = listed["instances"][0]
    assert listed["simulator"] is True and first["state"] == "ready" and first["logged_in"] is False
    assert first["pid"] and first["socket_port"] and first["http_port"] and first["work_dir"]
    assert "token" not in str(first).replace("first_token_ms", "")


def test_every_worker_answers_with_every_workers_instances(gw):
    for _ in range(6):   # whichever worker answers
        listed = admin(gw, "GET", "/instances").json()
        by_worker: dict[int, list[dict]] = {}
        for instance in listed["instances"]:
            by_worker.setdefault(instance["worker"], []).append(instance)
        assert len(by_worker) == 2 and listed["answered_by"]["index"] in by_worker
        for index, instances in by_worker.items():
            assert sorted(i["name"] for i in instances) == ["lingma-0", "lingma-1"]
            assert {Path(i["work_dir"]).parent.name for i in instances} == {f"w{index}"}
            assert len({i["worker_pid"] for i in instances}) == 1
        assert {w["index"] for w in listed["workers"]} == set(by_worker)


def test_a_restart_reaches_the_instance_clicked_on_another_worker(gw):
    with requests.Session() as session:   # one kept-alive connection: one worker answers all
        session.headers.update(ADMIN)

        seen: list[dict] = []

        def settled():   # every instance up, with its process (none between two processes)
            seen.append(session.get(gw.url + "/admin/api/instances", timeout=30).json())
            return all(i["state"] == "ready" and i["pid"] for i in seen[-1]["instances"])
        assert wait_until(settled, 60)
        listed = seen[-1]
        here = listed["answered_by"]["index"]
        pids = {(i["worker"], i["name"]): i["pid"] for i in listed["instances"]}
        there = next(w for w, _ in pids if w != here)
        asked = session.post(gw.url + "/admin/api/instances/lingma-1/restart", json={"worker": there},
                             timeout=30)
        assert asked.status_code == 202, asked.text
        assert asked.json()["worker"] == there and asked.json()["pid"] != listed["answered_by"]["pid"]
        missing = session.post(gw.url + "/admin/api/instances/lingma-1/restart", json={"worker": 99},
                               timeout=30)
        assert missing.status_code == 404
        assert session.get(gw.url + "/admin/api/instances", timeout=30).json()["answered_by"]["index"] == here

    def restarted():
        now = {(i["worker"], i["name"]): i for i in admin(gw, "GET", "/instances").json()["instances"]}
        clicked = now[(there, "lingma-1")]
        return clicked["pid"] not in (None, pids[(there, "lingma-1")]) and clicked["state"] == "ready"
    assert wait_until(restarted, 60)
    # the worker that took the click handed the restart over (the owner logs whose it was)
    assert wait_until(lambda: any("restarting: restart asked by an operator (through another worker)"
                                  in line for line in gw.lines), 30)
    now = {(i["worker"], i["name"]): i["pid"] for i in admin(gw, "GET", "/instances").json()["instances"]}
    assert {k: v for k, v in now.items() if k != (there, "lingma-1")} == {
        k: v for k, v in pids.items() if k != (there, "lingma-1")}


def test_a_pasted_callback_logs_every_instance_of_every_worker_in(gw):
    redirect, login = start_login(gw)
    assert admin(gw, "GET", "/login").json()["state"] == "pending"   # from either worker
    base = f"http://127.0.0.1:{login['port']}/auth/callback"
    for bad in (f"http://evil.example:{login['port']}/auth/callback?state={login['state']}&code=x",
                f"http://127.0.0.1:{login['port'] + 1}/auth/callback?state={login['state']}&code=x",
                f"http://127.0.0.1:{login['port']}/other?state={login['state']}&code=x",
                f"{base}?state=forged&code=x", f"https://127.0.0.1:{login['port']}/auth/callback",
                "file:///etc/passwd", "not a url"):
        refused = admin(gw, "POST", "/login/callback", json={"url": bad})
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["error"]["code"] == "invalid_callback", bad
    assert logins(gw) == []
    delivered = admin(gw, "POST", "/login/callback", json={"url": f"{base}?state={login['state']}&code=ok"})
    assert delivered.status_code == 200 and delivered.json()["lingma_status"] == 200
    assert redirect == base
    assert wait_until(lambda: everyone_logged_in(gw), 60), (logins(gw), gw.get("/ready"))
    chat = requests.post(gw.url + "/v1/chat/completions", timeout=30, headers={"Authorization": "Bearer test-key-123"},
                         json={"messages": [{"role": "user", "content": "after login"}]})
    assert chat.status_code == 200


def test_a_restarted_instance_comes_back_logged_in(gw):
    assert wait_until(lambda: everyone_logged_in(gw), 60)
    name = admin(gw, "GET", "/instances").json()["instances"][0]["name"]
    before = admin(gw, "GET", "/instances").json()["instances"][0]["pid"]
    assert admin(gw, "POST", f"/instances/{name}/restart").status_code == 202
    assert admin(gw, "POST", "/instances/nope/restart").status_code == 404

    def back():
        listed = admin(gw, "GET", "/instances").json()["instances"]
        return any(i["name"] == name and i["state"] == "ready" and i["logged_in"] and i["pid"] != before
                   for i in listed)
    assert wait_until(back, 60)


def test_logout_ends_it_everywhere_and_a_direct_callback_logs_in_again(gw):
    assert wait_until(lambda: everyone_logged_in(gw), 60)
    assert admin(gw, "POST", "/logout").json()["state"] == "none"
    assert wait_until(lambda: logins(gw) == [] and gw.get("/ready")[0] == 503, 60), logins(gw)
    redirect, login = start_login(gw)
    opened = requests.get(f"{redirect}?state={login['state']}&code=direct", timeout=10)  # the browser, on this machine
    assert opened.status_code == 200 and "Login complete" in opened.text
    assert wait_until(lambda: everyone_logged_in(gw), 60), logins(gw)


def test_the_endpoint_can_be_read_and_changed(gw):
    assert wait_until(lambda: gw.get("/ready")[0] == 200, 60)
    assert admin(gw, "POST", "/endpoint", json={"endpoint": "http://plain.example"}).status_code == 400
    changed = admin(gw, "POST", "/endpoint", json={"endpoint": "https://lingma.example.com"})
    assert changed.status_code == 200


def test_the_last_requests_of_every_worker_are_listed_without_their_text(gw):
    secret = "do-not-list-this-prompt"
    sent = set()
    for _ in range(8):   # new connections: both workers take some
        answer = requests.post(gw.url + "/v1/chat/completions", timeout=30,
                               headers={"Authorization": "Bearer test-key-123", "Connection": "close"},
                               json={"messages": [{"role": "user", "content": secret}]})
        sent.add(answer.headers["x-request-id"])
    listed: list[dict] = []

    def every_answer_lists_every_chat() -> bool:   # whichever worker answers
        listed[:] = admin(gw, "GET", "/requests").json()["requests"]
        return sent <= {r["id"] for r in listed}
    assert all(wait_until(every_answer_lists_every_chat, 30) for _ in range(4)), (sent, listed)
    assert secret not in str(listed)
    assert {"id", "time", "route", "model", "status", "error", "finish_reason", "first_token_ms",
            "total_ms", "worker", "worker_pid"} <= set(listed[0])
    assert all(not r["route"].startswith("/admin") for r in listed)
    assert [r["time"] for r in listed] == sorted((r["time"] for r in listed), reverse=True)
