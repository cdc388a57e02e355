"""The gateway's output: one JSON object per line (or text on request), and no secret in any line.

A gateway configured with every kind of secret is sent requests carrying each of them (right
and wrong), signed in to, scraped, refused with malformed headers, and driven through a Lingma
login (whose auth/status carries OAuth tokens); then every line it wrote is searched.
"""

import json
import re
import socket
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests

from lingma_flask.lingma.instance import wait_until
from tests.integration.gateway import API_KEY
from tests.integration.gateway import Gateway

pytestmark = pytest.mark.integration
SECRETS = {
    "LINGMA_API_KEYS": "api-secret-k1",
    "LINGMA_ADMIN_KEY": "admin-secret-a1",
    "LINGMA_SECRET_KEY": "session-secret-s1",
    "LINGMA_METRICS_KEY": "metrics-secret-m1",
    "LINGMA_ALERT_WEBHOOK": "http://127.0.0.1:9/hooks/webhook-secret-w1",
}
WRONG = "wrong-secret-x9"
LINGMA_TOKENS = ("pt-SIMULATED-TOKEN", "rt-SIMULATED-TOKEN")


def exercise(gw) -> str:
    """Send requests carrying every secret; return the session cookie the sign-in set."""
    url, key = gw.url, SECRETS["LINGMA_API_KEYS"]
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    for headers in ({"Authorization": f"Bearer {key}"}, {"x-api-key": key},
                    {"Authorization": f"Bearer {WRONG}"}, {"x-api-key": WRONG}):
        requests.post(url + "/v1/chat/completions", json=chat, headers=headers, timeout=30)
    requests.post(url + "/v1/messages", headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
                  json={"model": "claude-x", "max_tokens": 10, **chat}, timeout=30)
    for token in (SECRETS["LINGMA_METRICS_KEY"], WRONG):
        requests.get(url + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    session = requests.Session()
    form = session.get(url + "/admin/", timeout=10).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    session.post(url + "/admin/login", data={"csrf": csrf, "key": WRONG}, timeout=10)
    form = session.get(url + "/admin/", timeout=10).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    session.post(url + "/admin/login", data={"csrf": csrf, "key": SECRETS["LINGMA_ADMIN_KEY"]}, timeout=10)
    cookie = next((c.value for c in session.cookies if c.name.startswith("lingma_admin_")), "")
    admin = {"Authorization": f"Bearer {SECRETS['LINGMA_ADMIN_KEY']}"}
    started = requests.post(url + "/admin/api/login", headers=admin, timeout=30).json()
    query = parse_qs(urlsplit(started["login_url"]).query)
    requests.get(f"{query['redirect_uri'][0]}?state={query['state'][0]}&code=ok", timeout=10)
    assert wait_until(lambda: gw.get("/ready")[0] == 200, 30)
    requests.get(url + "/admin/api/instances", headers=admin, timeout=10)
    requests.get(url + "/admin/api/instances", headers={"Authorization": f"Bearer {WRONG}"}, timeout=10)
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:  # refused by gunicorn itself
        sock.sendall(f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\x00\r\n\r\n".encode())
        sock.recv(4096)
    return cookie


@pytest.fixture(scope="module")
def output(tmp_path_factory):
    gw = Gateway(tmp_path_factory.mktemp("logs") / "work", LINGMA_SIM_LOGGED_IN="0", **SECRETS)
    gw.start_process()
    assert wait_until(lambda: gw.get("/ready")[1].get("instances", [{}])[0].get("reason") == "not_logged_in", 30)
    try:
        cookie = exercise(gw)
    finally:
        gw.stop()
    return gw.lines, cookie


def test_every_line_is_one_json_object(output):
    lines, _ = output
    assert len(lines) > 20
    kinds = set()
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "logger"} <= set(record), line
        kinds.add(record["logger"])
    assert {"gunicorn.error", "lingma_flask.requests"} <= kinds
    assert any(k.startswith("lingma_flask.lingma") for k in kinds)  # instance lifecycle


def test_no_secret_in_any_line(output):
    lines, cookie = output
    text = "".join(lines)
    assert cookie and cookie not in text
    for secret in (*SECRETS.values(), WRONG, *LINGMA_TOKENS, "webhook-secret-w1"):
        assert secret not in text, secret
    assert '"status":401' in text.replace(" ", "") or '"status": 401' in text


def test_text_format_on_request(tmp_path):
    gw = Gateway(tmp_path / "work", LINGMA_LOG_FORMAT="text").start()
    try:
        requests.get(gw.url + "/v1/models", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)
    finally:
        gw.stop()
    request_lines = [line for line in gw.lines if "request id=" in line]
    assert request_lines and "route=/v1/models" in request_lines[-1] and "status=200" in request_lines[-1]
    assert all(not line.startswith("{") for line in gw.lines)
