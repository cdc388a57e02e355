"""Fixtures that run the real gateway (gunicorn, gevent worker, simulator) for a test module."""

import http.server
import threading

import openai
import pytest

from tests.integration.gateway import API_KEY
from tests.integration.gateway import Gateway
from tests.integration.stub import SECRET_PATH
from tests.integration.stub import Webhook


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """The main gateway: generous limits, short keepalive and first-token timeout."""
    gw = Gateway(tmp_path_factory.mktemp("gw") / "work", LINGMA_FIRST_TOKEN_TIMEOUT="3",
                 LINGMA_MAX_BODY_BYTES=str(2 * 1024 * 1024)).start()
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def client(gateway):
    """The official SDK pointed at the gateway, without retries so statuses show."""
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=API_KEY, max_retries=0, timeout=60) as c:
        yield c


@pytest.fixture
def webhook():
    """An alert webhook on loopback: (its URL, the list of (path, body) it received)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    Webhook.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}{SECRET_PATH}", Webhook.received
    server.shutdown()
    server.server_close()
