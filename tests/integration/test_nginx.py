"""The documented nginx site (docs/deploy/nginx.conf) in front of the real gateway.

nginx runs the doc file itself, with only its upstream `server` and `listen` addresses swapped:
the first upstream is the gateway, the second a host whose Lingma is not ready (503 to all),
the rest ports nobody listens on. nginx's own errors are shown by more copies of the site in
front of hosts that all refuse, stall (with a short proxy_read_timeout) or answer an error, and
upstream keep-alive by one in front of a relay to the gateway that counts its connections.
"""

import http.client
import json
import re
import socket
import time
from types import SimpleNamespace
from urllib.parse import urlsplit

import openai
import pytest
import requests

from lingma_flask.lingma import procutil
from tests.integration.gateway import API_KEY
from tests.integration.gateway import Gateway
from tests.integration.nginx import SITE
from tests.integration.nginx import Nginx
from tests.integration.nginx import site_for
from tests.integration.nginx import upstream_count
from tests.integration.relay import CountingRelay
from tests.integration.stub import StubServer
from tests.integration.test_responses_ws import one_response
from tests.integration.test_responses_ws import poll
from tests.integration.test_responses_ws import requests_logged
from tests.integration.tools import require_tool

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {API_KEY}"}
BODY_LIMIT = 16 * 1024 * 1024  # the gateway's default LINGMA_MAX_BODY_BYTES
NOT_READY = {"error": {"message": "Lingma is not ready", "type": "server_error", "code": "lingma_not_ready"}}
ERROR_KEYS = ["message", "type", "param", "code"]
CLIENT_ADDRESS = "127.0.0.5"  # a loopback address that is not nginx's own (127.0.0.1)


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
    gateway = Gateway(tmp_path_factory.mktemp("gateway") / "work", LINGMA_TRUSTED_PROXIES=1).start()
    dead = [procutil.free_port() for _ in range(hosts - 2)]
    upstreams = [gateway.url.removeprefix("http://"), f"127.0.0.1:{sick.port}"] + [f"127.0.0.1:{p}" for p in dead]
    port = procutil.free_port()
    nginx = Nginx(nginx_binary, tmp_path_factory.mktemp("nginx"), site_for(text, upstreams, port), port)
    try:
        nginx.start()
        yield SimpleNamespace(url=nginx.url, port=port, nginx=nginx, dead=dead, gateway=gateway)
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
    assert posts[0]["version"] == "HTTP/1.1" and "connection" not in seen and "upgrade" not in seen
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


# openai's responses.connect() opens its socket outside a `with`, which websockets deprecates
@pytest.mark.filterwarnings("ignore:connect\\(\\) must be used as a context manager:DeprecationWarning")
def test_the_responses_websocket_passes_through(proxy):
    since = len(proxy.gateway.lines)
    with openai.OpenAI(base_url=proxy.url + "/v1", api_key=API_KEY, max_retries=0, timeout=60) as sdk:
        with sdk.responses.connect() as conn:
            conn.response.create(model="auto", input="through nginx")
            events = one_response(conn)
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) > 1 and "".join(deltas) == "You said: through nginx"
    assert events[-1].response.output_text == "You said: through nginx"
    # the gateway served it as a WebSocket: the upgrade (101, logged when the socket closes)
    upgrades = poll(lambda: [r for r in requests_logged(proxy.gateway, since) if r["status"] == 101])
    answered = [r for r in requests_logged(proxy.gateway, since) if r["method"] == "WS"]
    assert len(upgrades) == 1 and upgrades[0]["method"] == "GET"
    assert [(r["status"], r["error"]) for r in answered] == [(200, None)]


def test_body_near_the_limit_passes_and_a_larger_one_stops_at_nginx(proxy):
    body = {"model": "auto", "messages": [{"role": "user", "content": "big body"}],
            "padding": "x" * (BODY_LIMIT - 64 * 1024)}  # an unknown field: accepted, not forwarded
    data = json.dumps(body).encode()
    assert BODY_LIMIT - 65 * 1024 < len(data) <= BODY_LIMIT
    resp = requests.post(proxy.url + "/v1/chat/completions", data=data, timeout=60,
                         headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status_code == 200
    assert resp.json()["choices"][0]["message"]["content"] == "You said: big body"
    too_big = requests.post(proxy.url + "/v1/chat/completions", data=data + b" " * (BODY_LIMIT + 1 - len(data)),
                            timeout=60, headers={**AUTH, "Content-Type": "application/json"})
    assert_proxy_error(too_big, 413, "request_too_large")  # nginx's answer, in the gateway's shape


def assert_proxy_error(resp, status, code):
    """Check that `resp` is nginx's own `status` error, given as the gateway's JSON error."""
    assert resp.status_code == status and resp.headers["Content-Type"] == "application/json"
    assert "x-request-id" not in resp.headers  # no gateway answered
    error = resp.json()["error"]
    assert list(error) == ERROR_KEYS and error["code"] == code and error["param"] is None
    assert error["type"] == ("invalid_request_error" if status == 413 else
                             "permission_error" if status == 403 else "server_error")


@pytest.mark.parametrize("path", ["/admin/", "/admin/api/health", "/metrics"])
def test_admin_and_metrics_are_refused_at_the_balancer(proxy, path):
    assert_proxy_error(requests.get(proxy.url + path, timeout=10), 403, "not_served_here")
    assert requests.get(proxy.gateway.url + path, timeout=10).status_code == 200  # the host itself serves it


def site_errors():
    """The JSON bodies of the site's `map $status` block, by status (or `default`)."""
    block = re.search(r"map \$status \$lingma_error_json \{(.*?)\n\}", SITE.read_text(), re.S).group(1)
    return {key: json.loads(body) for key, body in re.findall(r"^\s*(\w+)\s+'(.*)';$", block, re.M)}


def test_every_error_page_of_the_site_is_the_gateway_shape():
    bodies = site_errors()
    pages = re.search(r"^\s*error_page ([\d ]+) @lingma_error;$", SITE.read_text(), re.M).group(1).split()
    assert {"413", "500", "502", "503", "504"} <= set(pages) and "default" in bodies
    for status in [*pages, "default"]:
        error = bodies.get(status, bodies["default"])["error"]
        assert list(error) == ERROR_KEYS and error["message"] and error["code"], status


@pytest.fixture
def nginx_before(nginx_binary, tmp_path_factory):
    """Start copies of the site in front of `hosts` (its `proxy_read_timeout` may be shortened)."""
    started = []

    def start(hosts, read_timeout=None):
        text = SITE.read_text()
        if read_timeout is not None:
            assert text.count("proxy_read_timeout 630s;") == 1
            text = text.replace("proxy_read_timeout 630s;", f"proxy_read_timeout {read_timeout};")
        port = procutil.free_port()
        upstreams = [hosts[i % len(hosts)] for i in range(upstream_count(text))]
        nginx = Nginx(nginx_binary, tmp_path_factory.mktemp("nginx"), site_for(text, upstreams, port), port)
        started.append(nginx)
        return nginx.start()
    yield start
    for nginx in started:
        nginx.stop()


def test_no_gateway_reachable_is_a_json_502(nginx_before):
    nginx = nginx_before([f"127.0.0.1:{procutil.free_port()}"])
    assert_proxy_error(chat(nginx.url, "anyone there?"), 502, "gateway_unavailable")


def test_a_gateway_silent_past_the_read_timeout_is_a_json_504(nginx_before):
    with socket.create_server(("127.0.0.1", 0), backlog=16) as silent:  # accepts, never answers
        nginx = nginx_before([f"127.0.0.1:{silent.getsockname()[1]}"], read_timeout="1s")
        started = time.monotonic()
        resp = chat(nginx.url, "hello?")
    assert_proxy_error(resp, 504, "gateway_timeout")
    assert time.monotonic() - started >= 1.0


@pytest.mark.parametrize("status, code", [(502, "lingma_connection_error"), (504, "lingma_timeout"),
                                          (503, "lingma_not_ready"), (500, "internal_error")])
def test_a_gateways_own_errors_pass_unchanged(nginx_before, status, code):
    body = {"error": {"message": "from the gateway", "type": "server_error", "param": None, "code": code}}
    host = StubServer(status, json.dumps(body).encode()).start()
    try:
        resp = chat(nginx_before([f"127.0.0.1:{host.port}"]).url, "hi")
    finally:
        host.stop()
    assert resp.status_code == status and resp.json() == body


def test_ordinary_streams_reuse_upstream_connections(proxy, nginx_before):
    gateway = urlsplit(proxy.gateway.url)
    relay = CountingRelay((gateway.hostname, gateway.port)).start()
    try:
        nginx = nginx_before([relay.address])
        answers = ["".join(content_of(line) for _, line in timed_lines(chat(nginx.url, f"reuse {i}", stream=True)))
                   for i in range(3)]
        opened = relay.accepted
    finally:
        relay.stop()
    assert answers == [f"You said: reuse {i}" for i in range(3)]
    # Normally one connection carries all three; not `== 1`, since a machine stalled past the
    # upstream keepalive_timeout (4 s) between two chats would see nginx open a fresh one.
    assert 1 <= opened < len(answers), f"{opened} upstream connections for {len(answers)} streams"


def request_line(gateway, request_id, timeout=10.0):
    """The gateway's request log line for `request_id` (written when the response closes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(gateway.lines):
            if f'"id": "{request_id}"' in line:
                return json.loads(line)
        time.sleep(0.05)
    raise AssertionError(f"no request line for {request_id}")


@pytest.mark.parametrize("spoofed", [None, "203.0.113.9", "203.0.113.9, 198.51.100.7"])
def test_the_request_log_names_the_real_client_behind_nginx(proxy, spoofed):
    request_id = f"client-{spoofed or 'plain'}".replace(" ", "").replace(",", "_")
    headers = {**AUTH, "x-request-id": request_id}
    if spoofed:
        headers["X-Forwarded-For"] = spoofed  # from a client: nginx appends its peer, the real one
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30, source_address=(CLIENT_ADDRESS, 0))
    try:
        conn.request("GET", "/v1/models", headers=headers)
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    line = request_line(proxy.gateway, request_id)
    assert line["client"] == CLIENT_ADDRESS and line["route"] == "/v1/models"
    assert len(line["key"]) == 12 and API_KEY not in json.dumps(line)
