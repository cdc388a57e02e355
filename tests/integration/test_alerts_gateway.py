"""Alerts under real gunicorn: a logout and the login after it reach the webhook from the worker."""

import json
import urllib.request
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest

from lingma_flask.lingma.instance import wait_until
from tests.integration.gateway import Gateway
from tests.integration.stub import SECRET_PATH
from tests.integration.stub import texts

pytestmark = pytest.mark.integration


def test_logout_and_login_are_alerted_from_the_worker(tmp_path, webhook):
    url, received = webhook
    # the logout may come before the watcher first sees the login: its startup grace is short
    gw = Gateway(tmp_path / "work", LINGMA_ALERT_WEBHOOK=url, LINGMA_MODELS_REFRESH="1",
                 LINGMA_ALERT_STARTUP_GRACE="1", NO_PROXY="127.0.0.1", no_proxy="127.0.0.1").start()
    try:
        assert wait_until(lambda: any("alert watcher: baseline failed" in line for line in gw.lines), 30)
        admin = gw.url + "/admin/api"  # a local client: no admin key needed
        urllib.request.urlopen(urllib.request.Request(admin + "/logout", method="POST"), timeout=10).read()
        assert wait_until(lambda: len(received) == 1, 30), gw.lines[-20:]
        started = urllib.request.urlopen(urllib.request.Request(admin + "/login", method="POST"), timeout=10)
        login_url = json.loads(started.read())["login_url"]
        query = parse_qs(urlsplit(login_url).query)
        callback = f"{query['redirect_uri'][0]}?state={query['state'][0]}&code=ok"
        urllib.request.urlopen(callback, timeout=10).read()  # the browser, on this machine
        assert wait_until(lambda: len(received) == 2, 30), gw.lines[-20:]
    finally:
        gw.stop()
    assert [path for path, _ in received] == [SECRET_PATH] * 2
    first, second = texts(received)
    assert first.startswith("ALERT [") and "logged out" in first
    assert second.startswith("RECOVERED [") and "logged in again" in second
    log = "".join(gw.lines)
    assert "alerts go to the webhook at 127.0.0.1" in log and "s3cr3t" not in log
