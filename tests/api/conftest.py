"""Fixtures for the API tests: an isolated environment, a FakePool, the app and its client."""

from __future__ import annotations

import collections
import logging
import os

import httpx2
import openai
import pytest

from lingma_flask import create_app
from lingma_flask.logs import REQUEST_LOGGER
from lingma_flask.observe import of_app

from .fakes import FakePool


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """Drop LINGMA_* variables, run in an empty folder, and undo what .env loading set."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith("LINGMA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def pool():
    return FakePool()


@pytest.fixture
def config():
    """Extra test config; tests may update it before `app` is built."""
    return {}


@pytest.fixture
def make_app(pool):
    """Build an app around the fake pool with extra config keys."""
    def make(**config):
        return create_app({"TESTING": True, "LINGMA_POOL": pool, "SSE_KEEPALIVE": 0.01, **config})
    return make


@pytest.fixture
def app(make_app, config):
    return make_app(**config)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tool_events(app):
    """Count the tool events the app's observers hear, {(tool, event): n}: what the metrics count."""
    heard = collections.Counter()
    of_app(app).tool_event.subscribe(lambda tool, event: heard.update([(tool, event)]))
    return heard


@pytest.fixture
def request_log(caplog):
    """Collect the JSON request log lines."""
    logger = logging.getLogger(REQUEST_LOGGER)
    logger.addHandler(caplog.handler)
    yield lambda: [r.fields for r in caplog.records if r.name == REQUEST_LOGGER]
    logger.removeHandler(caplog.handler)


@pytest.fixture
def sdk(app):
    """The official openai SDK against the app, in process (httpx2's WSGI transport)."""
    http = httpx2.Client(transport=httpx2.WSGITransport(app=app))
    client = openai.OpenAI(api_key="any", base_url="http://localhost/v1", http_client=http,
                           max_retries=0)
    yield client
    client.close()
