"""Operations keep their word, against real gunicorn workers and a Lingma that knows no
`auth/logout` and never logs itself in (only the gateway's shared login logs it in).

A reload under load fails no chat; the drain window is a setting; a TERM sent to every process
(a PaaS stopping a dyno) ends streams with the shutdown error; a lost login turns /ready to 503
and sends one alert within one probe interval; a logout always ends logged out.
"""

import json
import os
import signal
import time

import pytest
import requests

from lingma_flask.lingma.instance import wait_until
from lingma_flask.simulator.workdir import ACCOUNT
from tests.integration.gateway import API_KEY
from tests.integration.gateway import Gateway
from tests.integration.gateway import children_of
from tests.integration.stub import texts
from tests.integration.test_restarts import reload_under_load

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {API_KEY}"}
ADMIN = {"Authorization": "Bearer admin-secret-15"}
OLD_LINGMA = {"LINGMA_SIM_LOGGED_IN": "0", "LINGMA_SIM_UNKNOWN_METHODS": "auth/logout"}


def publish_login(work_dir, login_at: int = 1) -> None:
    """Put a logged-in account into the gateway's shared login folder (as a login does)."""
    folder = work_dir / "login"
    folder.mkdir(parents=True)
    (folder / "id").write_text("machine-15")
    (folder / "user").write_text(json.dumps(dict(ACCOUNT, loginAt=login_at)))


def stream_lines(gw, prompt: str):
    resp = requests.post(gw.url + "/v1/chat/completions", headers=AUTH, stream=True, timeout=60,
                         json={"model": "auto", "stream": True, "messages": [{"role": "user", "content": prompt}]})
    assert resp.status_code == 200, resp.text
    return resp.iter_lines(decode_unicode=True)


def first_content(lines) -> None:
    for line in lines:
        if line.startswith("data:") and '"content"' in line:
            return


def data_lines(lines) -> list[str]:
    return [line for line in lines if line.startswith("data:")]


def test_a_reload_under_load_with_the_shared_login_fails_no_chat(tmp_path):
    publish_login(tmp_path / "work")
    gw = Gateway(tmp_path / "work", LINGMA_WORKERS="2", LINGMA_POOL_SIZE="2", **OLD_LINGMA).start()
    try:
        reload_under_load(gw, served_after=20)
        # the new workers' Lingmas started with the login: no sync restart was needed
        assert not any("starting with the gateway's shared login" in line for line in gw.lines)
    finally:
        gw.stop()


@pytest.mark.parametrize("graceful, completes", [(9, False), (14, True)])
def test_the_drain_window_on_reload_is_a_setting(tmp_path, graceful, completes):
    # chats get LINGMA_GRACEFUL_TIMEOUT - keepalive (5) - 2 s: 2 s, or 7 s for a 4 s answer
    gw = Gateway(tmp_path / "work", LINGMA_GRACEFUL_TIMEOUT=str(graceful)).start()
    try:
        lines = stream_lines(gw, "long [[sim:len=160,chunks=40,delay=0.1]]")
        first_content(lines)
        gw.proc.send_signal(signal.SIGHUP)
        tail = data_lines(lines)
        if completes:
            assert tail[-1] == "data: [DONE]" and '"error"' not in "".join(tail)
        else:
            assert '"lingma_shutdown"' in tail[-1] and "The gateway is shutting down. Retry" in tail[-1]
    finally:
        gw.stop()


def test_a_term_to_every_process_ends_streams_with_the_shutdown_error(tmp_path):
    gw = Gateway(tmp_path / "work").start()
    try:
        lines = stream_lines(gw, "endless [[sim:len=100000]] [[sim:delay=0.05]]")
        first_content(lines)
        workers = children_of(gw.proc.pid)
        everyone = [gw.proc.pid, *workers, *(pid for w in workers for pid in children_of(w))]
        assert len(everyone) >= 3   # the master, its worker, the worker's Lingma
        for pid in everyone:        # as a PaaS stops a dyno: SIGTERM to all at once
            os.kill(pid, signal.SIGTERM)
        tail = data_lines(lines)
        assert '"lingma_shutdown"' in tail[-1], tail[-1]
        assert "lingma_connection_error" not in "".join(tail)
        assert gw.proc.wait(25) == 0
    finally:
        gw.stop()


def admin(gw, method, path, **kwargs):
    return requests.request(method, gw.url + "/admin/api" + path, headers=ADMIN, timeout=30, **kwargs)


def logged_in_series(gw) -> list[float]:
    text = requests.get(gw.url + "/metrics", timeout=10).text
    return [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("lingma_logged_in{")]


def alerts(received, prefix: str) -> list[str]:
    return [text for text in texts(received) if text.startswith(prefix)]


def chat_error(gw) -> dict:
    resp = requests.post(gw.url + "/v1/chat/completions", headers=AUTH, timeout=30,
                         json={"messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 503, resp.text
    return resp.json()["error"]


def test_a_lost_login_is_seen_in_seconds_alerted_once_and_logout_always_logs_out(tmp_path, webhook):
    url, received = webhook
    work = tmp_path / "work"
    publish_login(work)
    # a login is re-read every probe interval (default 10 s): 2 s, so the loss shows sooner
    gw = Gateway(work, LINGMA_WORKERS="2", LINGMA_ADMIN_KEY="admin-secret-15", LINGMA_ALERT_WEBHOOK=url,
                 LINGMA_ALERT_INTERVAL="0", LINGMA_PROBE_INTERVAL="2", NO_PROXY="127.0.0.1",
                 no_proxy="127.0.0.1", **OLD_LINGMA).start()
    try:
        assert wait_until(lambda: logged_in_series(gw) == [1.0, 1.0], 30)
        assert sum("logged in as sim-user@example.com" in line for line in gw.lines) == 2

        # the login files disappear under the running gateway (every copy of them)
        lost = time.monotonic()
        for path in [*work.glob("w*/*/cache/user"), work / "login" / "user"]:
            path.unlink()
        assert wait_until(lambda: not gw.ready(), 20)
        to_ready = time.monotonic() - lost
        assert wait_until(lambda: alerts(received, "ALERT"), 20, interval=0.02)
        to_alert = time.monotonic() - lost
        print(f"login lost -> /ready 503 in {to_ready:.1f} s, -> the alert in {to_alert:.1f} s")
        assert to_ready <= 15 and to_alert <= 15
        assert wait_until(lambda: logged_in_series(gw) == [0.0, 0.0], 20)   # both workers saw it
        assert wait_until(lambda: sum("login lost" in line for line in gw.lines) == 2, 20)
        assert not wait_until(lambda: len(received) > 1, 5)     # one alert per gateway, not per worker
        assert "logged out" in alerts(received, "ALERT")[0]
        assert any("alert sent to 127.0.0.1" in line for line in gw.lines)
        error = chat_error(gw)
        assert error["code"] == "lingma_not_logged_in" and "/admin/" in error["message"]
        assert error["message"].count("not logged in") == 1

        # logged in again (the login published, as a pasted callback does): one recovery
        publish_login(tmp_path / "again", login_at=2)
        for name in ("id", "user"):
            os.replace(tmp_path / "again" / "login" / name, work / "login" / name)
        assert wait_until(gw.ready, 30)
        assert wait_until(lambda: alerts(received, "RECOVERED"), 20)

        # a logout with a Lingma that knows no auth/logout still logs every instance out
        out = admin(gw, "POST", "/logout")
        assert out.status_code == 200, out.text
        assert wait_until(lambda: not gw.ready() and logged_in_series(gw) == [0.0, 0.0], 20)
        assert wait_until(lambda: list(work.glob("w*/*/cache/user")) == [], 20)
        assert chat_error(gw)["code"] == "lingma_not_logged_in"
        assert not wait_until(lambda: any("login sync failed" in line for line in gw.lines), 3)
    finally:
        gw.stop()
