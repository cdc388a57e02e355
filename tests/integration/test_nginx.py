"""The documented nginx site (docs/deploy/nginx.conf) in front of the real gateway.

nginx runs the doc file itself, with only its upstream `server` and `listen` addresses swapped:
the first upstream is the gateway, the second a host whose Lingma is not ready (503 to all),
the rest ports nobody listens on.
"""

import json
import socket
import time
from types import SimpleNamespace

import pytest
import requests

from lingma_flask.lingma import procutil
from tests.integration.gateway import API_KEY
from tests.integration.gateway import Gateway
from tests.integration.nginx import SITE
from tests.integration.nginx import Nginx
from tests.integration.nginx import site_for
from tests.integration.nginx import upstream_count
from tests.integration.stub import StubServer
from tests.integration.tools import require_tool

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {API_KEY}"}
BODY_LIMIT = 16 * 1024 * 1024  # the gateway's default LINGMA_MAX_BODY_BYTES
NOT_READY = {"error": {"message": "Lingma is not ready", "type": "server_error", "code": "lingma_not_ready"}}


@pytest.fixture(scope="module")
def nginx_binary():
    """Debian's nginx (skip without it; fail under CI)."""
    return require_tool("nginx", "nginx")


@pytest.fixture(scope="module")
def sick():
    """A gateway host whose Lingma is not ready: every request gets 503."""
    stub = StubServer(503, json.dumps(NOT_READY).encode()).start()
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def proxy(nginx_binary, sick, tmp_path_factory):
    """nginx with the documented site, spreading over the gateway, the sick host and dead ports."""
    text = SITE.read_text()
    hosts = upstream_count(text)
    assert hosts >= 3, "the documented upstream should list several gateway hosts"
    gateway = Gateway(tmp_path_factory.mktemp("gateway") / "work").start()
    dead = [procutil.free_port() for _ in range(hosts - 2)]
    upstreams = [gateway.url.removeprefix("http://"), f"127.0.0.1:{sick.port}"] + [f"127.0.0.1:{p}" for p in dead]
    port = procutil.free_port()
    nginx = Nginx(nginx_binary, tmp_path_factory.mktemp("nginx"), site_for(text, upstreams, port), port)
    try:
        nginx.start()
        yield SimpleNamespace(url=nginx.url, port=port, nginx=nginx, dead=dead)
    finally:
        nginx.stop()
        gateway.stop()


def chat(base, text, stream=False, **extra):
    """POST one user message to the chat route behind `base`."""
    return requests.post(base + "/v1/chat/completions", headers=AUTH, timeout=60, stream=stream, json={
        "model": "auto", "stream": stream, "messages": [{"role": "user", "content": text}], **extra})


def timed_lines(resp):
    """Yield (arrival time, line) for each non-empty line of a stream, as its bytes arrive."""
    pending = b""
    for chunk in resp.iter_content(chunk_size=None):
        now = time.monotonic()
        *lines, pending = (pending + chunk).split(b"\n")
        yield from ((now, line.decode()) for line in lines if line.strip())


def content_of(line):
    """The answer text of one SSE line ('' for comments, role, finish and [DONE] lines)."""
    if not line.startswith("data: {"):
        return ""
    choices = json.loads(line[len("data: "):]).get("choices") or [{}]
    return choices[0].get("delta", {}).get("content") or ""


def test_hosts_refusing_or_answering_503_are_passed_over(proxy, sick):
    answers = [chat(proxy.url, f"spread {i}") for i in range(6)]
    assert [r.status_code for r in answers] == [200] * 6
    contents = [r.json()["choices"][0]["message"]["content"] for r in answers]
    assert contents == [f"You said: spread {i}" for i in range(6)]
    posts = [r for r in sick.requests if r["method"] == "POST"]
    assert posts, "no chat was offered to the host answering 503"
    assert any(f"127.0.0.1:{port}" in proxy.nginx.errors() for port in proxy.dead)
    seen = {k.lower(): v for k, v in posts[0]["headers"].items()}
    assert posts[0]["version"] == "HTTP/1.1" and "connection" not in seen
    assert seen["x-forwarded-for"] == seen["x-real-ip"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http" and seen["host"] == seen["x-forwarded-host"] == "127.0.0.1"


def test_stream_chunks_arrive_as_lingma_makes_them(proxy):
    resp = chat(proxy.url, "[[sim:len=400,chunks=40,delay=0.05]]", stream=True)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    assert "Content-Encoding" not in resp.headers  # requests asked for gzip; the site turns it off
    lines = list(timed_lines(resp))
    arrivals = [at for at, line in lines if content_of(line)]
    assert len("".join(content_of(line) for _, line in lines)) == 400
    assert lines[-1][1] == "data: [DONE]"
    # 40 chunks 50 ms apart take about 2 s: held back by a buffer, they would arrive together
    assert arrivals[-1] - arrivals[0] > 1.0


def test_keepalive_comment_crosses_nginx_while_lingma_is_silent(proxy):
    started = time.monotonic()
    resp = chat(proxy.url, "slow start [[sim:ttft=2]]", stream=True)
    lines = list(timed_lines(resp))
    # headers and the role chunk pass at once: a PaaS router's first-byte window is met
    assert lines[0][1].startswith("data: ") and lines[0][0] - started < 1.0
    first_content = next(at for at, line in lines if content_of(line))
    keepalives = [at for at, line in lines if line.startswith(":") and at < first_content]
    assert keepalives, "no keepalive comment before the first token"
    assert keepalives[0] - started < 1.5 and first_content - keepalives[0] > 0.5
    assert "".join(content_of(line) for _, line in lines) == "You said: slow start"


def test_non_streamed_answer_passes(proxy):
    resp = chat(proxy.url, "plain JSON please")
    assert resp.status_code == 200 and resp.headers["x-request-id"]
    body = resp.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "You said: plain JSON please"


def test_body_near_the_limit_passes_and_a_larger_one_stops_at_nginx(proxy):
    body = {"model": "auto", "messages": [{"role": "user", "content": "big body"}],
            "padding": "x" * (BODY_LIMIT - 64 * 1024)}  # an unknown field: accepted, not forwarded
    data = json.dumps(body).encode()
    assert BODY_LIMIT - 65 * 1024 < len(data) <= BODY_LIMIT
    resp = requests.post(proxy.url + "/v1/chat/completions", data=data, timeout=60,
                         headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status_code == 200
    assert resp.json()["choices"][0]["message"]["content"] == "You said: big body"
    reply = declare_body(proxy.port, BODY_LIMIT + 1)
    assert reply.startswith(b"HTTP/1.1 413") and b"nginx" in reply  # nginx's page, not the gateway's JSON


def declare_body(port, length):
    """Send only the headers of a POST announcing `length` bytes; return the start of the reply."""
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {API_KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        return sock.recv(4096)


def test_admin_pages_are_refused_at_the_balancer(proxy):
    resp = requests.get(proxy.url + "/admin/", timeout=10)
    assert resp.status_code == 403 and "nginx" in resp.text  # nginx's own page: no gateway was asked
