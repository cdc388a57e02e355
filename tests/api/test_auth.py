"""API keys, loopback-only without keys, and the open /health."""

import pytest

URL = "/v1/chat/completions"
BODY = {"messages": [{"role": "user", "content": "hi"}]}
REMOTE = {"REMOTE_ADDR": "10.0.0.5"}


@pytest.fixture
def config():
    return {"API_KEYS": "key-one, key-two"}


@pytest.mark.parametrize("headers", [
    {"Authorization": "Bearer key-one"},
    {"Authorization": "bearer key-two"},
    {"x-api-key": "key-two"},
])
def test_valid_keys_are_served_from_anywhere(client, headers):
    resp = client.post(URL, json=BODY, headers=headers, environ_base=REMOTE)
    assert resp.status_code == 200
    assert client.get("/v1/models", headers=headers, environ_base=REMOTE).status_code == 200


@pytest.mark.parametrize("headers, words", [
    ({}, "Missing API key"),
    ({"Authorization": "Bearer nope"}, "Incorrect API key"),
    ({"Authorization": "Basic key-one"}, "Missing API key"),
    ({"x-api-key": "key-one-and-more"}, "Incorrect API key"),
])
def test_missing_or_wrong_keys_are_401(client, pool, headers, words):
    for path in (URL, "/v1/models", "/models/auto"):
        resp = client.post(path, json=BODY, headers=headers) if path == URL else \
            client.get(path, headers=headers)
        assert resp.status_code == 401
        err = resp.get_json()["error"]
        assert err["code"] == "invalid_api_key" and words in err["message"]
    assert not pool.asks


def test_keys_are_never_logged(client, capsys, caplog):
    client.post(URL, json=BODY, headers={"Authorization": "Bearer key-one"})
    client.post(URL, json=BODY, headers={"Authorization": "Bearer wrong-secret"})
    logged = capsys.readouterr().out + capsys.readouterr().err + caplog.text
    assert "key-one" not in logged and "wrong-secret" not in logged


def test_health_is_open(client):
    assert client.get("/health", environ_base=REMOTE).status_code == 200


@pytest.mark.parametrize("address, served", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True),
    ("10.0.0.5", False), ("192.168.1.2", False), ("2001:db8::1", False), ("", False),
])
def test_without_keys_only_loopback_is_served(make_app, address, served):
    client = make_app().test_client()
    resp = client.post(URL, json=BODY, environ_base={"REMOTE_ADDR": address})
    assert (resp.status_code == 200) is served
    if not served:
        err = resp.get_json()["error"]
        assert resp.status_code == 401 and "LINGMA_API_KEYS" in err["message"]


def test_keys_may_be_a_json_list(make_app):
    client = make_app(API_KEYS=["a", "b"]).test_client()
    assert client.post(URL, json=BODY, headers={"x-api-key": "b"}, environ_base=REMOTE).status_code == 200


@pytest.mark.parametrize("header", ["X-Forwarded-For", "X-Real-IP", "Forwarded"])
def test_a_proxied_loopback_client_is_not_local(make_app, header):
    client = make_app().test_client()
    resp = client.post(URL, json=BODY, headers={header: "203.0.113.9"})
    assert resp.status_code == 401 and "LINGMA_API_KEYS" in resp.get_json()["error"]["message"]
