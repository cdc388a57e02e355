"""Hostile and careless clients against real gunicorn + gevent + the simulator.

Each test shows one request cannot hurt the others: clients that stop reading or vanish give
their slot back, bodies that never arrive are timed out, malformed requests get JSON errors,
and a second gateway on the same work dir refuses to start.
"""

import json
import socket
import subprocess
import time

import pytest
import requests

from lingma_flask.lingma.instance import wait_until
from tests.integration.gateway import API_KEY
from tests.integration.gateway import GUNICORN
from tests.integration.gateway import ROOT
from tests.integration.gateway import Gateway

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {API_KEY}"}
BIG = "[[sim:len=6000000,chunk=60000,delay=0]]"


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    gateway = Gateway(tmp_path_factory.mktemp("hard") / "work", LINGMA_WRITE_TIMEOUT="1",
                      LINGMA_BODY_TIMEOUT="1", LINGMA_MAX_BODY_BYTES="100000",
                      LINGMA_MAX_CONCURRENCY="2", LINGMA_QUEUE_TIMEOUT="0.5",
                      LINGMA_WORKER_CONNECTIONS="80").start()
    yield gateway
    gateway.stop()


def in_flight(gw) -> int:
    return gw.health()[1]["in_flight"]


def raw_request(gw, head: bytes, body: bytes = b"", rcvbuf: int | None = None) -> socket.socket:
    host, port = gw.url.removeprefix("http://").split(":")
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect((host, int(port)))
    sock.sendall(head + body)
    return sock


def chat_head(gw, body: bytes, extra: str = "") -> bytes:
    return (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {API_KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode()


def read_response(sock, limit=1 << 20) -> bytes:
    """Read until the server closes (or `limit` bytes), then close our end."""
    sock.settimeout(10)
    data = b""
    try:
        while len(data) < limit:
            part = sock.recv(65536)
            if not part:
                break
            data += part
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return data


def stalled_reader(gw):
    """Start a big streamed answer and never read it (a tiny receive buffer fills at once)."""
    body = json.dumps({"model": "auto", "stream": True,
                       "messages": [{"role": "user", "content": "flood " + BIG}]}).encode()
    return raw_request(gw, chat_head(gw, body), body, rcvbuf=4096)


def test_clients_that_stop_reading_are_dropped_and_free_their_slots(gw):
    before = len(gw.sim_state()["stops"])
    readers = [stalled_reader(gw) for _ in range(2)]
    try:
        assert wait_until(lambda: in_flight(gw) == 2, 10)
        assert wait_until(lambda: in_flight(gw) == 0, 15), gw.health()  # write timeout 1 s
        assert wait_until(lambda: len(gw.sim_state()["stops"]) >= before + 2, 5)  # Lingma was stopped
        resp = requests.post(gw.url + "/v1/chat/completions", headers=AUTH, timeout=10,
                             json={"model": "auto", "messages": [{"role": "user", "content": "next"}]})
        assert resp.status_code == 200 and resp.json()["choices"][0]["message"]["content"] == "You said: next"
    finally:
        for reader in readers:
            reader.close()


def test_a_non_streaming_client_that_hangs_up_cancels_its_chat(gw):
    before = gw.sim_state()["stops"]
    body = json.dumps({"model": "auto", "messages": [
        {"role": "user", "content": "slow [[sim:len=3000,chunk=10,delay=0.05]]"}]}).encode()
    sock = raw_request(gw, chat_head(gw, body), body)
    assert wait_until(lambda: in_flight(gw) == 1, 10)
    sock.close()
    assert wait_until(lambda: in_flight(gw) == 0, 5)  # long before the 15 s answer would end
    assert wait_until(lambda: len(gw.sim_state()["stops"]) > len(before), 5)


def test_a_body_that_never_arrives_gets_408_and_others_are_served(gw):
    idle = [raw_request(gw, chat_head(gw, b"x" * 100)) for _ in range(50)]  # headers only
    try:
        status, _ = gw.get("/health")
        assert status == 200  # the worker still answers while they wait
        answers = [read_response(sock) for sock in idle[:3]]
        for answer in answers:
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408"), answer[:200]
            assert json.loads(body)["error"]["code"] == "request_timeout"
    finally:
        for sock in idle:
            sock.close()


def test_a_chunked_body_over_the_limit_is_413_and_a_malformed_one_400(gw):
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {API_KEY}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    chunk = b"x" * 60000
    big = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 3 + b"0\r\n\r\n"
    answer = read_response(raw_request(gw, head, big))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "request_too_large"
    answer = read_response(raw_request(gw, head, b"zz\r\nabc\r\n0\r\n\r\n"))
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"<html" not in answer and json.loads(answer.partition(b"\r\n\r\n")[2])["error"]


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /v1/models/" + b"x" * 9000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"414"),
    (b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n", b"431"),
    (b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120))
     + b"\r\n", b"431"),
    (b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad: a\x00b\r\n\r\n", b"400"),
    (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 12abc\r\n\r\n", b"400"),
    (b"GET /v1/models HTTP/1.1\rHost: 127.0.0.1\r\n\r\n", b"400"),
], ids=["long-url", "big-header", "many-headers", "nul", "bad-length", "bare-cr"])
def test_what_gunicorn_refuses_is_json_not_html(gw, request_bytes, status):
    answer = read_response(raw_request(gw, request_bytes))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == status, answer[:200]
    assert b"application/json" in head and b"<html" not in answer
    assert json.loads(body)["error"]["code"]


def test_a_lone_surrogate_is_answered_and_leaks_nothing(gw):
    body = b'{"model": "auto", "messages": [{"role": "user", "content": "bad \\ud800 text"}]}'
    for _ in range(20):
        resp = requests.post(gw.url + "/v1/chat/completions", data=body, timeout=10,
                             headers={**AUTH, "Content-Type": "application/json"})
        assert resp.status_code == 200 and "\ufffd" in resp.json()["choices"][0]["message"]["content"]
    assert in_flight(gw) == 0


def test_sigterm_with_a_stalled_reader_exits_promptly(tmp_path):
    gateway = Gateway(tmp_path / "work", LINGMA_WRITE_TIMEOUT="30").start()
    reader = stalled_reader(gateway)
    try:
        assert wait_until(lambda: in_flight(gateway) == 1, 10)
        began = time.monotonic()
        assert gateway.stop(timeout=25) == 0
        assert time.monotonic() - began < 10  # the drain grace, not the 20 s graceful timeout
    finally:
        reader.close()


def test_a_second_gateway_on_the_same_work_dir_refuses_to_start(tmp_path):
    first = Gateway(tmp_path / "work").start()
    try:
        second = subprocess.run([str(GUNICORN), "-c", "gunicorn.conf.py", "-b", "127.0.0.1:0", "wsgi:app"],
                                cwd=ROOT, env=first.env, capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        master_pid = first.proc.pid
        assert "already uses the work dir" in second.stdout + second.stderr
        assert "pid" in second.stdout + second.stderr and str(master_pid) != ""
        assert first.ready()  # the first one is untouched
    finally:
        first.stop()
