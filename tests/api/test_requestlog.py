"""x-request-id on every response, and the one JSON log line per request."""

import re

import pytest

from lingma_flask.logs import REQUEST_LOGGER
from lingma_flask.settings_reader import SettingError

URL = "/v1/chat/completions"


@pytest.mark.parametrize("method, path, kwargs", [
    ("post", URL, {"json": {"messages": [{"role": "user", "content": "hi"}]}}),
    ("post", URL, {"json": {"messages": [{"role": "user", "content": "hi"}], "stream": True}}),
    ("post", URL, {"json": {}}),
    ("get", "/v1/models", {}),
    ("get", "/health", {}),
    ("get", "/nowhere", {}),
    ("put", URL, {}),
])
def test_every_response_has_a_request_id(client, method, path, kwargs):
    resp = getattr(client, method)(path, **kwargs)
    assert resp.headers["x-request-id"].startswith("req_")
    resp.close()


@pytest.mark.parametrize("incoming, echoed", [
    ("abc-123_x.y:z", True),
    ("has space", False),
    ("x" * 129, False),
    ("", False),
])
def test_incoming_request_id_is_kept_if_sane(client, incoming, echoed):
    resp = client.get("/health", headers={"x-request-id": incoming})
    assert (resp.headers["x-request-id"] == incoming) is echoed


def test_log_line_fields(client, request_log):
    client.post(URL, json={"model": "Kimi-K2", "messages": [{"role": "user", "content": "hi"}]},
                headers={"x-request-id": "trace-1"})
    line = request_log()[-1]
    assert line["id"] == "trace-1"
    assert line["route"] == "/v1/chat/completions"
    assert line["model"] == "Kimi-K2" and line["instance"] == "fake-0"
    assert line["status"] == 200
    assert isinstance(line["first_token_ms"], int) and isinstance(line["total_ms"], int)


def test_error_log_line_names_the_code(client, request_log):
    client.post(URL, json={"model": "nope", "messages": [{"role": "user", "content": "hi"}]})
    line = request_log()[-1]
    assert line["status"] == 404 and line["error"] == "model_not_found"


def test_log_line_names_the_client_and_the_key_never_the_key_itself(make_app, request_log):
    apps = [make_app(API_KEYS="key-one,key-two", SECRET_KEY="shared") for _ in range(2)]
    for app, key in zip(apps * 2, ["key-one", "key-one", "key-two", "wrong-key"], strict=False):
        app.test_client().get("/v1/models", headers={"Authorization": f"Bearer {key}"},
                              environ_base={"REMOTE_ADDR": "10.0.0.5"})
    app.test_client().get("/v1/models", environ_base={"REMOTE_ADDR": "10.0.0.6"})  # no key at all
    make_app(API_KEYS="key-one", SECRET_KEY="another").test_client().get(
        "/v1/models", headers={"x-api-key": "key-one"}, environ_base={"REMOTE_ADDR": "10.0.0.7"})
    lines = request_log()
    assert [line["client"] for line in lines] == ["10.0.0.5"] * 4 + ["10.0.0.6", "10.0.0.7"]
    names = [line.get("key") for line in lines]
    assert names[0] == names[1] and re.fullmatch(r"key-[0-9a-f]{8}", names[0])  # a plain key's fingerprint
    assert names[2] != names[0] and names[3:5] == [None, None]  # a wrong key or none: no name
    assert names[5] == names[0]  # one key: one name in every worker and on every host, whatever the secret
    assert all("key" not in line for line in lines[3:5])
    assert not any("key-one" in str(line) or "key-two" in str(line) for line in lines)


def test_keyless_requests_carry_no_key(client, request_log):
    client.get("/v1/models", headers={"Authorization": "Bearer anything"})
    line = request_log()[-1]
    assert line["status"] == 200 and line["client"] == "127.0.0.1" and "key" not in line


@pytest.mark.parametrize("hops, forwarded, client_address", [
    (0, "203.0.113.9", "10.0.0.5"),                    # no trusted proxy: the header is not believed
    (1, "203.0.113.9", "203.0.113.9"),                 # the proxy's own entry
    (1, "198.51.100.7, 203.0.113.9", "203.0.113.9"),   # what the client wrote before it is not
    (2, "198.51.100.7, 203.0.113.9", "198.51.100.7"),  # two proxies: the first one's entry
])
def test_client_is_forwarded_only_by_trusted_proxies(make_app, request_log, hops, forwarded, client_address):
    app = make_app(API_KEYS="key-one", TRUSTED_PROXIES=str(hops))
    resp = app.test_client().get("/v1/models", headers={"x-api-key": "key-one", "X-Forwarded-For": forwarded},
                                 environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert resp.status_code == 200 and request_log()[-1]["client"] == client_address


@pytest.mark.parametrize("value", ["-1", "one", "1.5"])
def test_trusted_proxies_must_be_a_count(make_app, value):
    with pytest.raises(SettingError, match="LINGMA_TRUSTED_PROXIES"):
        make_app(TRUSTED_PROXIES=value)


@pytest.mark.parametrize("path", ["/health", "/ready", "/metrics"])
def test_health_checks_are_logged_at_debug(make_app, request_log, caplog, path):
    def levels():
        return [(r.fields["route"], r.levelname) for r in caplog.records if r.name == REQUEST_LOGGER]
    for level in ("INFO", "DEBUG"):
        client = make_app(LOG_LEVEL=level).test_client()
        assert client.get(path).status_code in (200, 503)
        client.get("/v1/models")
    # at INFO (the default) probes leave no line; at DEBUG theirs is a DEBUG line
    assert levels() == [("/v1/models", "INFO"), (path, "DEBUG"), ("/v1/models", "INFO")]
