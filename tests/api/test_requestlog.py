"""x-request-id on every response, and the one JSON log line per request."""

import pytest

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
