"""Issue 13, items 6, 7, 10, 11 and 16: who may reach the admin page and API, and for how long.

6: a keyless admin answers loopback Host names only, whatever LINGMA_API_KEYS says (DNS
rebinding). 7: LINGMA_CORS_ORIGINS opens the API, never /admin. 10: admin sessions end on
sign-out (in every worker), when the admin key changes or appears; the cookie is named per
gateway. 11: wrong keys lock their client out for a while. 16: /admin/qr reads hosts as
browsers do.
"""

from __future__ import annotations

import logging
import re

import flask
import pytest

from lingma_flask.lingma.settings import CoreSettings
from lingma_flask.ops.admin_session import FILE_NAME as GENERATION_FILE
from lingma_flask.ops.qr import is_login_url
from lingma_flask.web.backoff import LIMIT
from lingma_flask.web.backoff import Backoff

ADMIN_KEY = "admin-key-XYZ-123"
SECRET = "a-shared-session-secret"
REMOTE = {"REMOTE_ADDR": "10.0.0.5"}
OTHER = {"REMOTE_ADDR": "10.0.0.6"}
REBOUND = {"Host": "rebind.attacker.example"}
LOGIN_URL = ("https://devops.aliyun.com/lingma/login?port=37510&state=s1"
             "&redirect_uri=http%3A%2F%2F127.0.0.1%3A37510%2Fauth%2Fcallback")
HI = [{"role": "user", "content": "hi"}]


class FakeInstance:
    """The bits of an instance the admin API drives, recording what it was asked."""

    name, ready, logged_in, auth, http_port = "fake-0", True, True, {"name": "me"}, 37510

    def __init__(self):
        self.calls: list[str] = []

    def set_endpoint(self, endpoint):
        self.calls.append(f"endpoint {endpoint}")

    def request_restart(self, reason):
        self.calls.append("restart")

    def logout(self):
        self.calls.append("logout")


@pytest.fixture
def instance(pool, tmp_path):
    pool.instances = [FakeInstance()]
    pool.settings = CoreSettings(login_dir=str(tmp_path / "login"))   # login_root() is there
    return pool.instances[0]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(app):
    """Give the app a backoff on a hand-moved clock."""
    clock = Clock()
    app.extensions["lingma_backoff"] = Backoff(clock=clock)
    return clock


def form_token(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(client, key=ADMIN_KEY, **kwargs):
    token = form_token(client.get("/admin/", **kwargs).get_data(as_text=True))
    return client.post("/admin/login", data={"key": key, "csrf": token}, **kwargs)


def cookie_of(client, app) -> str:
    """Return the value of the client's admin session cookie."""
    return client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value


def client_with(app, cookie: str):
    """A fresh browser holding `cookie` as `app`'s session cookie."""
    client = app.test_client()
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    return client


# -- 6: DNS rebinding against a keyless admin ------------------------------------------

ADMIN_CALLS = [
    ("get", "/admin/", None),
    ("get", "/admin/api/instances", None),
    ("post", "/admin/api/endpoint", {"endpoint": "https://attacker.example"}),
    ("post", "/admin/api/instances/fake-0/restart", None),
    ("post", "/admin/api/logout", None),
]


@pytest.mark.parametrize("method, path, body", ADMIN_CALLS)
def test_a_keyless_admin_refuses_rebound_host_names_even_with_api_keys(
        make_app, instance, method, path, body):
    client = make_app(API_KEYS="key-one,key-two").test_client()
    resp = getattr(client, method)(path, json=body, headers=REBOUND)
    assert resp.status_code == 403, resp.get_data(as_text=True)[:200]
    error = resp.get_json()["error"]
    assert error["code"] == "host_not_allowed" and "LINGMA_ADMIN_KEY" in error["message"]
    assert instance.calls == []
    assert "csrf" not in resp.get_data(as_text=True)
    local = getattr(client, method)(path, json=body, headers={"Host": "127.0.0.1:8000"})
    assert local.status_code in (200, 202), local.get_data(as_text=True)[:200]
    keyed = make_app(API_KEYS="key-one", ADMIN_KEY=ADMIN_KEY).test_client()
    named = getattr(keyed, method)(path, json=body, environ_base=REMOTE, headers={
        "Host": "gw.example", "Authorization": f"Bearer {ADMIN_KEY}"})
    assert named.status_code == local.status_code  # an admin key serves any name


def test_a_keyless_session_cookie_does_not_work_from_another_machine(make_app, instance):
    app = make_app(API_KEYS="key-one")
    browser = app.test_client()
    assert 'id="instances"' in browser.get("/admin/").get_data(as_text=True)
    assert browser.get("/admin/api/instances").status_code == 200
    stolen = client_with(app, cookie_of(browser, app))
    resp = stolen.get("/admin/api/instances", environ_base=REMOTE)
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "invalid_admin_key"


# -- 7: CORS is for the API only --------------------------------------------------------

@pytest.mark.parametrize("cors", ["*", "https://app.example"])
def test_cors_origins_never_open_the_admin_routes(make_app, instance, cors):
    client = make_app(CORS_ORIGINS=cors, ADMIN_KEY=ADMIN_KEY).test_client()
    origin = {"Origin": "https://app.example"}
    bearer = {"Authorization": f"Bearer {ADMIN_KEY}"}
    preflight = client.options("/admin/api/logout", headers={
        **origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    answers = [
        preflight,
        client.post("/admin/api/logout", json={}, headers={**origin, **bearer}),
        client.get("/admin/api/requests", headers={**origin, **bearer}),
        client.get("/admin/", headers=origin),
        client.options("/admin/login", headers={**origin, "Access-Control-Request-Method": "POST"}),
    ]
    for resp in answers:
        assert resp.status_code == 403, resp.get_data(as_text=True)[:200]
        assert resp.get_json()["error"]["code"] == "origin_not_allowed"
        assert not any(name.startswith("Access-Control-") for name in resp.headers.keys())
    assert instance.calls == []
    api = client.post("/v1/chat/completions", json={"messages": HI}, headers=origin)
    assert api.status_code == 200
    assert api.headers["Access-Control-Allow-Origin"] == "https://app.example"
    own = client.post("/admin/api/logout", json={},
                      headers={"Origin": "http://localhost", **bearer})
    assert own.status_code == 200 and "Access-Control-Allow-Origin" not in own.headers
    assert instance.calls == ["logout"]


# -- 10: admin sessions end ---------------------------------------------------------------

@pytest.fixture
def keyed_app(make_app, tmp_path):
    """Build apps ("workers") of one gateway: one work dir, one session secret."""
    def build(**config):
        return make_app(SECRET_KEY=SECRET, WORK_DIR=str(tmp_path / "work"), **{
            "ADMIN_KEY": ADMIN_KEY, **config})
    return build


def test_a_cookie_stops_working_after_sign_out(keyed_app, instance):
    app = keyed_app()
    browser = app.test_client()
    assert sign_in(browser).status_code == 303
    saved = cookie_of(browser, app)
    token = re.search(r'name="csrf-token" content="([^"]+)"',
                      browser.get("/admin/").get_data(as_text=True)).group(1)
    assert browser.post("/admin/logout", data={"csrf": token}).status_code == 303
    replay = client_with(app, saved)
    assert replay.get("/admin/api/instances").status_code == 401
    assert 'name="key"' in replay.get("/admin/").get_data(as_text=True)


def test_sign_out_in_one_worker_ends_the_session_in_the_others(keyed_app, instance, tmp_path):
    first, second = keyed_app(), keyed_app()
    assert first.config["SESSION_COOKIE_NAME"] == second.config["SESSION_COOKIE_NAME"]
    browser = first.test_client()
    sign_in(browser)
    saved = cookie_of(browser, first)
    assert client_with(second, saved).get("/admin/api/instances").status_code == 200
    token = re.search(r'name="csrf-token" content="([^"]+)"',
                      browser.get("/admin/").get_data(as_text=True)).group(1)
    browser.post("/admin/logout", data={"csrf": token})
    assert client_with(second, saved).get("/admin/api/instances").status_code == 401
    generation = (tmp_path / "work" / GENERATION_FILE).read_text()
    assert generation.strip() and ADMIN_KEY not in generation


def test_changing_the_admin_key_ends_the_sessions(keyed_app, instance):
    before = keyed_app()
    browser = before.test_client()
    sign_in(browser)
    saved = cookie_of(browser, before)
    assert client_with(keyed_app(), saved).get("/admin/api/instances").status_code == 200
    after = keyed_app(ADMIN_KEY="a-new-admin-key")
    assert client_with(after, saved).get("/admin/api/instances").status_code == 401
    assert 'name="key"' in client_with(after, saved).get("/admin/").get_data(as_text=True)


def test_a_keyless_auto_sign_in_stops_working_once_an_admin_key_is_set(keyed_app, instance):
    keyless = keyed_app(ADMIN_KEY=None)
    browser = keyless.test_client()
    assert 'id="instances"' in browser.get("/admin/").get_data(as_text=True)
    saved = cookie_of(browser, keyless)
    keyed = client_with(keyed_app(), saved)
    assert keyed.get("/admin/api/instances").status_code == 401
    assert 'name="key"' in keyed.get("/admin/").get_data(as_text=True)


def test_the_cookie_is_named_per_gateway_and_names_the_key_by_fingerprint(make_app, tmp_path):
    apps = [make_app(SECRET_KEY=SECRET, ADMIN_KEY=ADMIN_KEY, WORK_DIR=str(tmp_path / name))
            for name in ("gateway-a", "gateway-b")]
    names = {app.config["SESSION_COOKIE_NAME"] for app in apps}
    assert len(names) == 2 and all(n.startswith("lingma_admin_") for n in names)
    browser = apps[0].test_client()
    sign_in(browser)
    with browser.session_transaction("/admin/") as session:
        assert session["admin"] is True and session["key"] and session["generation"]
        assert ADMIN_KEY not in repr(dict(session))


# -- 11: backoff on wrong keys --------------------------------------------------------------

@pytest.fixture
def config():
    return {"ADMIN_KEY": ADMIN_KEY, "API_KEYS": "key-one"}


def backoff_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "lingma_flask.web.backoff" and r.levelno == logging.WARNING]


def test_wrong_admin_sign_ins_lock_the_client_out(client, app, clock, caplog):
    caplog.set_level(logging.INFO, logger="lingma_flask")
    for n in range(LIMIT):
        assert sign_in(client, key=f"guess-{n}", environ_base=REMOTE).status_code == 401
    for key in ("guess-99", ADMIN_KEY):
        locked = sign_in(client, key=key, environ_base=REMOTE)
        assert locked.status_code == 429 and locked.headers["Retry-After"] == "60"
        assert "try again in 60 s" in locked.get_data(as_text=True)
    assert len(backoff_warnings(caplog)) == 2  # the burst's first failure, and the lockout
    other = app.test_client()
    assert sign_in(other, environ_base=OTHER).status_code == 303
    clock.now += 60
    assert sign_in(client, environ_base=REMOTE).status_code == 303


def test_wrong_admin_bearers_lock_the_client_out(client, clock, instance):
    url = "/admin/api/instances"
    for n in range(LIMIT):
        resp = client.get(url, headers={"Authorization": f"Bearer guess-{n}"}, environ_base=REMOTE)
        assert resp.status_code == 401
    right = {"Authorization": f"Bearer {ADMIN_KEY}"}
    resp = client.get(url, headers=right, environ_base=REMOTE)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "60"
    assert resp.get_json()["error"]["code"] == "too_many_failed_attempts"
    assert client.get(url, headers=right, environ_base=OTHER).status_code == 200
    clock.now += 59.5
    assert client.get(url, headers=right, environ_base=REMOTE).headers["Retry-After"] == "1"
    clock.now += 0.5
    assert client.get(url, headers=right, environ_base=REMOTE).status_code == 200


def test_wrong_api_keys_lock_the_client_out(client, clock, caplog):
    caplog.set_level(logging.INFO, logger="lingma_flask")
    for _ in range(3 * LIMIT):
        assert client.get("/v1/models", environ_base=REMOTE).status_code == 401  # no key: no guess
    for n in range(LIMIT + 5):
        resp = client.get("/v1/models", headers={"x-api-key": f"guess-{n}"}, environ_base=REMOTE)
    error = resp.get_json()["error"]
    assert resp.status_code == 429 and error["code"] == "too_many_failed_attempts"
    assert error["type"] and "message" in error and "param" in error
    right = {"Authorization": "Bearer key-one"}
    assert client.get("/v1/models", headers=right, environ_base=REMOTE).status_code == 429
    messages = client.post("/v1/messages", headers=right, environ_base=REMOTE, json={
        "model": "claude-x", "max_tokens": 9, "messages": HI})
    assert messages.status_code == 429 and messages.get_json()["type"] == "error"
    assert client.get("/v1/models", headers=right, environ_base=OTHER).status_code == 200
    assert len(backoff_warnings(caplog)) == 2
    assert not any("guess" in m for m in backoff_warnings(caplog))


@pytest.mark.parametrize("hops", [1, 0])
def test_clients_behind_a_trusted_proxy_are_told_apart_by_its_forwarded_address(make_app, config, hops):
    app = make_app(**config, TRUSTED_PROXIES=str(hops))
    app.extensions["lingma_backoff"] = Backoff(clock=Clock())
    client = app.test_client()

    def ask(forwarded, key, spoofed="198.51.100.1"):
        return client.get("/v1/models", headers={"x-api-key": key,
                                                 "X-Forwarded-For": f"{spoofed}, {forwarded}"})
    for n in range(LIMIT):  # what the client writes before the proxy's entry changes nothing
        ask("203.0.113.9", f"guess-{n}", spoofed=f"198.51.100.{n}")
    assert ask("203.0.113.9", "key-one").status_code == 429
    # with no trusted proxy the header is not believed: every client of the proxy is locked out
    assert ask("203.0.113.10", "key-one").status_code == (200 if hops else 429)


def test_an_ipv6_client_is_its_64(client, clock):
    for suffix in range(LIMIT):
        client.get("/v1/models", headers={"x-api-key": f"guess-{suffix}"},
                   environ_base={"REMOTE_ADDR": f"2001:db8:1:2::{suffix + 1:x}"})
    right = {"x-api-key": "key-one"}
    assert client.get("/v1/models", headers=right,
                      environ_base={"REMOTE_ADDR": "2001:db8:1:2::ffff"}).status_code == 429
    assert client.get("/v1/models", headers=right,
                      environ_base={"REMOTE_ADDR": "2001:db8:1:3::1"}).status_code == 200


def test_a_client_repeating_one_wrong_key_is_not_guessing(client, clock, caplog):
    caplog.set_level(logging.INFO, logger="lingma_flask")
    for _ in range(5 * LIMIT):
        resp = client.get("/v1/models", headers={"x-api-key": "stale-key"}, environ_base=REMOTE)
        assert resp.status_code == 401
    assert client.get("/v1/models", headers={"x-api-key": "key-one"},
                      environ_base=REMOTE).status_code == 200
    assert len(backoff_warnings(caplog)) == 1


def test_the_backoff_holds_a_bounded_number_of_clients():
    clock = Clock()
    backoff = Backoff(capacity=100, clock=clock)
    for n in range(5000):
        backoff.fail("api", f"client-{n}", "API key", "guess")
    assert len(backoff) == 100
    for n in range(LIMIT):
        backoff.fail("api", "guesser", "API key", f"guess-{n}")
    assert backoff.retry_after("api", "guesser") == 60
    assert backoff.retry_after("admin", "guesser") == 0  # API keys and the admin key apart


# -- 16: QR codes of links a browser reads as aliyun.com ---------------------------------

@pytest.mark.parametrize("url", [
    "https://evil.example\\.aliyun.com/",       # a browser reads \ as /: host evil.example
    "https://evil.example%5C.aliyun.com/",      # percent-encoded backslash
    "https://evil.example\t\\.aliyun.com/",     # control characters, stripped by parsers
    "https://evil.example\n.aliyun.com/",
    "https://%64evops.aliyun.com/",             # a percent-encoded host
    "https://devops..aliyun.com/",              # an empty label
    "https://evil.example%2F.aliyun.com/",
])
def test_qr_codes_refuse_links_whose_host_readers_disagree_on(make_app, url):
    client = make_app(ADMIN_KEY=ADMIN_KEY).test_client()
    sign_in(client)
    assert not is_login_url(url)
    assert client.get("/admin/qr", query_string={"data": url}).status_code == 400
    for fine in (LOGIN_URL, "https://DevOps.Aliyun.com./lingma/login", "https://aliyun.com"):
        assert is_login_url(fine), fine
    assert client.get("/admin/qr", query_string={"data": LOGIN_URL}).status_code == 200


def test_only_the_admin_paths_open_a_session(make_app):
    """The API never reads the admin's session, so it never pays for opening one."""
    app = make_app(SECRET_KEY=SECRET, ADMIN_KEY=ADMIN_KEY)
    interface = app.session_interface
    for path, kept in (("/admin/", True), ("/admin", True), ("/admin/api/usage", True),
                       ("/v1/chat/completions", False), ("/administrator", False), ("/", False)):
        with app.test_request_context(path):
            session = interface.open_session(app, flask.request)
            assert interface.is_null_session(session) is not kept, path
