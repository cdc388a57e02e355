"""The write guard against real gunicorn + gevent: every body, timed by progress, events whole.

A client that stops reading a non-streamed answer is dropped after LINGMA_WRITE_TIMEOUT (its
connection reset, so the kernel frees what was queued for it) while /health keeps answering;
a slow-but-steady reader of a stream with megabyte events gets every event whole.
"""

import json
import socket
import struct
import time

import pytest
import requests

from lingma_flask.lingma.instance import wait_until
from tests.integration.gateway import API_KEY
from tests.integration.gateway import Gateway

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {API_KEY}"}
TCP_CLOSE = 7  # tcp_info.tcpi_state once the peer reset the connection


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    gateway = Gateway(tmp_path_factory.mktemp("guard") / "work", LINGMA_WRITE_TIMEOUT="1").start()
    yield gateway
    gateway.stop()


def in_flight(gw) -> int:
    return gw.health()[1]["in_flight"]


def tcp_state(sock) -> int:
    return struct.unpack("B", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1))[0]


def send_post(gw, path: str, payload: dict, rcvbuf: int) -> socket.socket:
    body = json.dumps(payload).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {API_KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    host, port = gw.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect((host, int(port)))
    sock.sendall(head + body)
    return sock


def big_chat(gw, chars: int) -> socket.socket:
    """Ask for a non-streamed answer of `chars` characters and never read it."""
    return send_post(gw, "/v1/chat/completions", {"model": "auto", "messages": [
        {"role": "user", "content": f"big [[sim:len={chars},chunk=60000,delay=0]]"}]}, rcvbuf=4096)


def answers_collected(gw, asks_before: int, count: int) -> bool:
    """The simulator got `count` more asks and every chat slot is free again."""
    return gw.sim_state()["asks_total"] >= asks_before + count and in_flight(gw) == 0


def test_a_client_that_does_not_read_a_json_answer_is_dropped(gw):
    before = gw.sim_state()["asks_total"]
    clients = [big_chat(gw, 4_000_000) for _ in range(3)]
    try:
        assert wait_until(lambda: answers_collected(gw, before, 3), 30)  # bodies now pending
        health = []

        def dropped() -> bool:
            health.append(gw.get("/health")[0])
            return all(tcp_state(sock) == TCP_CLOSE for sock in clients)
        # reset (not a FIN queued behind megabytes nobody reads): the unsent data is freed
        assert wait_until(dropped, 15), [tcp_state(sock) for sock in clients]
        assert set(health) == {200}
        resp = requests.post(gw.url + "/v1/chat/completions", headers=AUTH, timeout=30, json={
            "model": "auto", "messages": [
                {"role": "user", "content": "x [[sim:len=500000,chunk=60000,delay=0]]"}]})
        assert len(resp.json()["choices"][0]["message"]["content"]) == 500_000  # readers served
    finally:
        for sock in clients:
            sock.close()


def read_slowly(sock, step: int, pause: float, limit: float) -> bytes:
    """Read `step` bytes every `pause` s until the chunked body ends or the server hangs up."""
    data, end = bytearray(), time.monotonic() + limit
    sock.settimeout(limit)
    try:
        while not data.endswith(b"\r\n0\r\n\r\n") and time.monotonic() < end:
            part = sock.recv(step)
            if not part:
                break
            data += part
            time.sleep(pause)  # the client's pace, not synchronisation
    except ConnectionResetError:
        pass  # dechunk() reports where the stream was cut
    return bytes(data)


def dechunk(raw: bytes) -> bytes:
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"chunked" in head.lower(), head
    body = bytearray()
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return bytes(body)
        body += rest[:size]
        assert rest[size:size + 2] == b"\r\n", "a chunk was cut"
        rest = rest[size + 2:]
    raise AssertionError(f"the stream was cut after {len(body)} bytes")


def test_a_slow_but_steady_reader_gets_every_event_whole(gw):
    chars = 800_000  # four whole copies of the text come last: a ~1 MB event each
    sock = send_post(gw, "/v1/responses", {
        "model": "auto", "stream": True, "store": False,
        "input": f"big [[sim:len={chars},chunk=60000,delay=0]]"}, rcvbuf=65536)
    try:
        raw = read_slowly(sock, 65536, 0.1, limit=120)  # ~0.6 MB/s, far below loopback speed
    finally:
        sock.close()
    events = [block for block in dechunk(raw).decode().split("\n\n") if block]
    payloads = [json.loads(line.removeprefix("data: ")) for block in events
                for line in block.splitlines() if line.startswith("data: ")]
    assert payloads[-1]["type"] == "response.completed"
    text = payloads[-1]["response"]["output"][0]["content"][0]["text"]
    assert len(text) == chars
    deltas = [p["delta"] for p in payloads if p["type"] == "response.output_text.delta"]
    assert "".join(deltas) == text


def test_sigterm_with_a_client_not_reading_a_json_answer_exits_promptly(tmp_path):
    gateway = Gateway(tmp_path / "work", LINGMA_WRITE_TIMEOUT="30").start()
    before = gateway.sim_state()["asks_total"]
    client = big_chat(gateway, 4_000_000)
    try:
        assert wait_until(lambda: answers_collected(gateway, before, 1), 30)
        began = time.monotonic()
        assert gateway.stop(timeout=25) == 0
        assert time.monotonic() - began < 10  # the drain grace, not the 20 s graceful_timeout
    finally:
        client.close()
