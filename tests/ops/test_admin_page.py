"""The status page at /admin/: sign-in, CSRF on its forms, escaping, loopback-only without a key."""

from __future__ import annotations

import logging
import re

import pytest

ADMIN_KEY = "admin-key-XYZ-123"
REMOTE = {"REMOTE_ADDR": "10.0.0.5"}
LOGIN_URL = ("https://devops.aliyun.com/lingma/login?port=37510&state=s1"
             "&redirect_uri=http%3A%2F%2F127.0.0.1%3A37510%2Fauth%2Fcallback")


@pytest.fixture
def config():
    return {"ADMIN_KEY": ADMIN_KEY}


def form_token(html: str) -> str:
    """Return the CSRF token of the first form in `html`."""
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def session_of(client) -> dict:
    """Return a copy of the client's current session."""
    with client.session_transaction("/admin/") as session:
        return dict(session)


def sign_in(client, key=ADMIN_KEY, **kwargs):
    """Open the sign-in form and post `key` with the form's CSRF token."""
    token = form_token(client.get("/admin/", **kwargs).get_data(as_text=True))
    return client.post("/admin/login", data={"key": key, "csrf": token}, **kwargs)


def test_without_a_session_the_page_is_the_sign_in_form(client):
    resp = client.get("/admin/")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert 'action="/admin/login"' in html and 'name="key"' in html and form_token(html)
    assert 'id="instances"' not in html
    assert session_of(client).get("admin") is None


def test_the_right_key_signs_in_with_a_fresh_csrf_token(client):
    token = form_token(client.get("/admin/").get_data(as_text=True))
    resp = client.post("/admin/login", data={"key": ADMIN_KEY, "csrf": token})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/admin/")
    session = session_of(client)
    assert session["admin"] is True
    assert session["csrf"] and session["csrf"] != token
    page = client.get("/admin/").get_data(as_text=True)
    assert 'id="instances"' in page and f'content="{session["csrf"]}"' in page


def test_a_wrong_key_is_refused_and_not_logged(client, caplog):
    caplog.set_level(logging.INFO, logger="lingma_flask")
    resp = sign_in(client, key="not-the-key-456", environ_base=REMOTE)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 401
    assert "Wrong admin key" in html and 'name="key"' in html
    assert session_of(client).get("admin") is None
    refused = [r for r in caplog.records if "sign-in refused" in r.getMessage()]
    assert refused and refused[0].levelno == logging.WARNING and "10.0.0.5" in refused[0].getMessage()
    assert not any("not-the-key-456" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_sign_in_needs_the_form_csrf_token(client, token):
    client.get("/admin/")
    data = {"key": ADMIN_KEY} if token is None else {"key": ADMIN_KEY, "csrf": token}
    resp = client.post("/admin/login", data=data)
    assert resp.status_code == 400 and "expired" in resp.get_data(as_text=True)
    assert session_of(client).get("admin") is None


def test_sign_out_needs_the_csrf_token(client):
    assert sign_in(client).status_code == 303
    assert client.post("/admin/logout", data={"csrf": "forged"}).status_code == 403
    assert client.post("/admin/logout").status_code == 403
    assert session_of(client)["admin"] is True
    token = session_of(client)["csrf"]
    resp = client.post("/admin/logout", data={"csrf": token})
    assert resp.status_code == 303
    assert session_of(client) == {}
    assert 'name="key"' in client.get("/admin/").get_data(as_text=True)


def test_the_page_escapes_pool_data(client, pool):
    hostile = "<script>alert(1)</script>"
    pool.health = lambda: {"ready": True, "instances": [{
        "name": 'i"0<b>', "state": "ready", "logged_in": True, "account": hostile,
        "last_error": None, "pid": 7, "port": 1, "restarts": 0}, {
        "name": "i1", "state": "reconnecting", "logged_in": False, "account": None,
        "last_error": "<img src=x onerror=alert(2)>", "pid": 8, "port": 2, "restarts": 1}]}
    sign_in(client)
    html = client.get("/admin/").get_data(as_text=True)
    assert hostile not in html and "<img src=x" not in html and 'i"0<b>' not in html
    assert "Logged in as &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert 'data-name="i&#34;0&lt;b&gt;"' in html


def test_the_page_forbids_inline_scripts_and_framing(client):
    sign_in(client)
    resp = client.get("/admin/")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "<script>" not in resp.get_data(as_text=True)
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Cache-Control"] == "no-store"


def test_the_session_cookie_is_httponly_strict_and_secure_over_https(client, app):
    http_cookie = sign_in(client).headers["Set-Cookie"]
    assert "HttpOnly" in http_cookie and "SameSite=Strict" in http_cookie
    assert "Secure" not in http_cookie
    secure = app.test_client()
    https_cookie = sign_in(secure, base_url="https://localhost").headers["Set-Cookie"]
    assert "Secure" in https_cookie and "SameSite=Strict" in https_cookie


def test_qr_codes_encode_only_aliyun_links(client):
    assert client.get("/admin/qr", query_string={"data": LOGIN_URL}).status_code == 401
    sign_in(client)
    resp = client.get("/admin/qr", query_string={"data": LOGIN_URL})
    assert resp.status_code == 200 and resp.mimetype == "image/svg+xml"
    assert resp.get_data(as_text=True).startswith("<svg") and "<script" not in resp.get_data(as_text=True)
    for url in ("https://evil.example/?x=aliyun.com", "http://devops.aliyun.com/login",
                "https://aliyun.com.evil.example/", "javascript:alert(1)", ""):
        assert client.get("/admin/qr", query_string={"data": url}).status_code == 400, url


class TestWithoutAdminKey:
    @pytest.fixture
    def config(self):
        return {}

    def test_loopback_browsers_are_signed_in_automatically(self, client):
        html = client.get("/admin/").get_data(as_text=True)
        assert 'id="instances"' in html and "Local access" in html
        session = session_of(client)
        assert session["admin"] is True and session["csrf"]
        assert f'content="{session["csrf"]}"' in html

    @pytest.mark.parametrize("environ, headers", [
        (REMOTE, {}),
        ({}, {"X-Forwarded-For": "203.0.113.9"}),
        ({}, {"Forwarded": "for=203.0.113.9"}),
    ])
    def test_other_clients_see_that_admin_is_local_only(self, client, environ, headers):
        resp = client.get("/admin/", environ_base=environ, headers=headers)
        assert resp.status_code == 403 and "local-only" in resp.get_data(as_text=True)
        assert session_of(client).get("admin") is None
        assert client.get("/admin/qr", query_string={"data": LOGIN_URL}, environ_base=environ,
                          headers=headers).status_code == 401

    def test_the_sign_in_form_post_goes_back_to_the_page(self, client):
        resp = client.post("/admin/login", data={"key": "anything"})
        assert resp.status_code == 303 and session_of(client).get("admin") is None


def test_api_posts_by_cookie_need_the_csrf_header(client, pool):
    pool.instances = []  # the restart endpoint looks its instance up there
    sign_in(client)
    url = "/admin/api/instances/no-such-instance/restart"
    assert client.post(url).status_code == 403
    assert client.post(url, headers={"X-CSRF-Token": "forged"}).get_json()["error"]["code"] == "csrf_failed"
    token = session_of(client)["csrf"]
    resp = client.post(url, headers={"X-CSRF-Token": token})
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "instance_not_found"
    assert client.get("/admin/api/instances").status_code == 200  # safe methods need no token


def test_a_non_ascii_csrf_token_is_refused_not_a_crash(client, pool):
    pool.instances = []
    sign_in(client)
    url = "/admin/api/instances/no-such-instance/restart"
    resp = client.post(url, headers={"X-CSRF-Token": "forg\u00e9d"})
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "csrf_failed"


def test_the_page_assets_are_served_under_admin(client):
    sign_in(client)
    html = client.get("/admin/").get_data(as_text=True)
    for path in re.findall(r'(?:src|href)="(/admin/static/[^"]+)"', html):
        with client.get(path) as resp:  # a file response: close it
            assert resp.status_code == 200 and resp.get_data(), path
    assert {"/admin/static/page.js", "/admin/static/page.css"} <= set(
        re.findall(r'(?:src|href)="(/admin/static/[^"]+)"', html))


def test_instances_not_logged_in_are_not_shown_ready_and_old_errors_not_kept(client, pool):
    pool.health = lambda: {"ready": False, "instances": [
        {"name": "fresh", "state": "ready", "logged_in": False, "last_error": "Lingma is restarting: x"},
        {"name": "fine", "state": "ready", "logged_in": True, "last_error": "an old crash"},
        {"name": "down", "state": "reconnecting", "logged_in": False, "last_error": "connection lost"}]}
    sign_in(client)
    html = client.get("/admin/").get_data(as_text=True)
    states = re.findall(r'<span class="state (state-[a-z-]+)">([^<]*)</span>', html)
    assert states == [("state-not-logged-in", "ready, not logged in"), ("state-ready", "ready"),
                      ("state-reconnecting", "reconnecting")]
    assert "Lingma is restarting" not in html and "an old crash" not in html
    assert "connection lost" in html


def test_the_login_qr_code_is_marked_for_hiding_on_phones(client):
    sign_in(client)
    html = client.get("/admin/").get_data(as_text=True)
    assert re.search(r'<img id="login-qr" class="qr-prompt"', html)
    assert '<span class="qr-prompt"> (or scan the code with a phone)</span>' in html
    # that they are hidden at 390 px is seen in Chromium (tests/integration/test_admin_page.py)
