"""Fixtures that run the real gateway (gunicorn, gevent worker, simulator) for a test module."""

import openai
import pytest

from tests.integration.gateway import API_KEY
from tests.integration.gateway import Gateway


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
