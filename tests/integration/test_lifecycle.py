"""Gateways with special settings: busy slots, a logged-out Lingma, shutdown and killed workers."""

import os
import signal
import time

import openai
import pytest
import requests

from lingma_flask.lingma import procutil
from lingma_flask.lingma.instance import wait_until
from tests.integration.gateway import API_KEY
from tests.integration.gateway import Gateway

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def chat(gw, text, stream=False, **kw):
    return requests.post(gw.url + "/v1/chat/completions", headers=AUTH, timeout=30, stream=stream, json={
        "model": "auto", "stream": stream, "messages": [{"role": "user", "content": text}], **kw})


def first_content(lines):
    """Read SSE lines up to the first content chunk (keep `lines` alive: dropping it hangs up)."""
    for line in lines:
        if '"content":"' in line and '"content":""' not in line:
            return line
    raise AssertionError("no content")


@pytest.fixture
def make_gateway(tmp_path):
    started = []

    def factory(wait=True, gunicorn_args=(), **env):
        gw = Gateway(tmp_path / f"work{len(started)}", gunicorn_args=gunicorn_args, **env)
        started.append(gw)
        if wait:
            gw.start()
        return gw

    yield factory
    for gw in started:
        gw.stop()


def test_busy_is_429_with_retry_after_and_a_disconnect_frees_the_slot(make_gateway):
    gw = make_gateway(LINGMA_MAX_CONCURRENCY="1", LINGMA_QUEUE_TIMEOUT="0.3")
    holder = chat(gw, "hold the slot [[sim:len=100000]] [[sim:delay=0.05]]", stream=True)
    lines = holder.iter_lines(decode_unicode=True)
    first_content(lines)
    busy = chat(gw, "second")
    assert busy.status_code == 429 and int(busy.headers["Retry-After"]) >= 1
    assert busy.json()["error"]["code"] == "lingma_busy"
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=API_KEY, max_retries=0)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}])
    holder.close()  # the client goes away mid-stream
    del lines
    assert wait_until(lambda: gw.health()[1]["in_flight"] == 0, 10)
    assert chat(gw, "now free").json()["choices"][0]["message"]["content"] == "You said: now free"
    client.close()


def test_logged_out_lingma_is_503_until_login_completes(make_gateway):
    gw = make_gateway(wait=False, LINGMA_SIM_LOGGED_IN="0")
    gw.start_process()
    assert wait_until(lambda: gw.health()[1].get("instances", [{}])[0].get("state") == "ready", 30)
    status, health = gw.health()
    assert status == 503 and health["ready"] is False and health["simulator"] is True
    resp = chat(gw, "hello")
    assert resp.status_code == 503
    error = resp.json()["error"]
    assert error["code"] == "lingma_not_logged_in" and "/admin/" in error["message"]
    models = requests.get(gw.url + "/v1/models", headers=AUTH, timeout=10)
    assert models.status_code == 503
    requests.get(f"http://127.0.0.1:{gw._http_port(0)}/sim/login", timeout=5)
    assert chat(gw, "hello").json()["choices"][0]["message"]["content"] == "You said: hello"
    assert wait_until(gw.ready, 10)


def test_sigterm_ends_an_endless_stream_cleanly_and_leaves_no_lingma(make_gateway):
    # chats get 9 - (keepalive 5 + 2) = 2 s; the worker then exits on its own, before the 9 s
    gw = make_gateway(gunicorn_args=("--graceful-timeout", "9"))
    pids = gw.lingma_pids()
    resp = chat(gw, "long one [[sim:len=100000]] [[sim:delay=0.05]]", stream=True)
    lines = resp.iter_lines(decode_unicode=True)
    first_content(lines)
    started = time.monotonic()
    gw.proc.send_signal(signal.SIGTERM)
    tail = [line for line in lines if line.startswith("data:")]
    ended = time.monotonic()
    assert '"error"' in tail[-1] and "shutting down" in tail[-1]
    # a chat that would not end in time got its error frame before gunicorn's graceful_timeout
    assert 1.5 < ended - started < 5
    assert gw.proc.wait(25) == 0
    assert any("Worker exiting" in line for line in gw.lines)  # not SIGKILLed at graceful_timeout
    assert pids and wait_until(lambda: all(not procutil.pid_alive(pid) for pid in pids), 5)


def test_a_sigkilled_worker_takes_its_lingma_with_it(make_gateway):
    gw = make_gateway()
    pids = gw.lingma_pids()
    worker = next(int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == gw.proc.pid)
    os.kill(worker, signal.SIGKILL)
    assert wait_until(lambda: all(not procutil.pid_alive(pid) for pid in pids), 10)
    assert wait_until(lambda: gw.ready() and gw.lingma_pids() and gw.lingma_pids() != pids, 60)
    assert chat(gw, "respawned").json()["choices"][0]["message"]["content"] == "You said: respawned"


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def test_two_workers_each_own_their_lingma_and_work_dirs(make_gateway):
    gw = make_gateway(LINGMA_WORKERS="2")
    infos = {}

    def both_up():
        for index in (0, 1):
            info = gw.work_dir / f"w{index}" / "0" / ".info"
            if info.exists() and len(info.read_text().split()) >= 2:
                infos[index] = [int(v) for v in info.read_text().split()[:2]]
        return len(infos) == 2

    assert wait_until(both_up, 30)
    (port0, pid0), (port1, pid1) = infos[0], infos[1]
    assert port0 != port1 and pid0 != pid1
    answers = set()

    def answered(i):  # a worker still starting answers 503 "not ready", as it should
        resp = chat(gw, f"worker test {i}")
        if resp.status_code == 200:
            answers.add(resp.json()["choices"][0]["message"]["content"])
        else:
            assert resp.status_code == 503 and resp.json()["error"]["code"] == "lingma_not_ready"
        return resp.status_code == 200

    assert all(wait_until(lambda i=i: answered(i), 30) for i in range(6))
    assert answers == {f"You said: worker test {i}" for i in range(6)}
    assert gw.stop() == 0
    assert not procutil.pid_alive(pid0) and not procutil.pid_alive(pid1)
