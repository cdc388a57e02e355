"""Every failure before the first byte is the OpenAI envelope with the right status."""

import pytest

from lingma_flask.lingma import errors as le

URL = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]


def assert_envelope(resp, status, code=None, param=None):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    data = resp.get_json()
    assert set(data) == {"error"}
    assert set(data["error"]) == {"message", "type", "param", "code"}
    assert isinstance(data["error"]["message"], str) and data["error"]["message"]
    if code is not None:
        assert data["error"]["code"] == code
    assert data["error"]["param"] == param
    assert resp.headers["x-request-id"]
    return data["error"]


@pytest.mark.parametrize("payload, param, code", [
    ({}, "messages", "missing_required_parameter"),
    ({"messages": []}, "messages", "invalid_value"),
    ({"messages": "hi"}, "messages", "invalid_value"),
    ({"messages": [{"content": "x"}]}, "messages[0].role", "missing_required_parameter"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "invalid_value"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content", "invalid_value"),
    ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0].content[0]",
     "invalid_value"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": [
        {"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages[1].content[1]", "invalid_image_url"),
    ({"messages": HI, "model": ""}, "model", "invalid_value"),
    ({"messages": HI, "n": "1"}, "n", "invalid_value"),
    ({"messages": HI, "stream": "yes"}, "stream", "invalid_value"),
    ({"messages": HI, "max_tokens": True}, "max_tokens", "invalid_value"),
    ({"messages": HI, "tool_choice": "sometimes"}, "tool_choice", "invalid_value"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
     "messages[0].content[0]", "invalid_value"),
    ({"messages": HI, "n": 2}, "n", "invalid_value"),
    ({"messages": HI, "stop": ["a", "b", "c", "d", "e"]}, "stop", "invalid_value"),
    ({"messages": HI, "stop": 5}, "stop", "invalid_value"),
    ({"messages": HI, "max_tokens": 0}, "max_tokens", "invalid_value"),
    ({"messages": HI, "max_completion_tokens": "many"}, "max_completion_tokens", "invalid_value"),
    ({"messages": HI, "temperature": 3}, "temperature", "invalid_value"),
    ({"messages": HI, "stream": "maybe"}, "stream", "invalid_value"),
    ({"messages": HI, "stream_options": {"include_usage": "x"}}, "stream_options.include_usage",
     "invalid_value"),
    ({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {}}]}]},
     "messages[0].tool_calls[0].function.name", "missing_required_parameter"),
    ([1, 2], None, "invalid_request"),
])
def test_invalid_fields_are_400_naming_the_field(client, pool, payload, param, code):
    err = assert_envelope(client.post(URL, json=payload), 400, code, param)
    assert err["type"] == "invalid_request_error"
    assert not pool.asks


def test_a_remote_image_url_is_refused_the_gateway_fetches_nothing(client, pool):
    part = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    payload = {"messages": [{"role": "user", "content": [part]}]}
    err = assert_envelope(client.post(URL, json=payload), 400, "invalid_image_url", "messages[0].content[0]")
    assert "data URI" in err["message"] and not pool.asks


@pytest.mark.parametrize("data", ["{x", "", "nul", b"\xff\xfe\x00"])
def test_invalid_json_is_400(client, data):
    assert_envelope(client.post(URL, data=data, content_type="application/json"), 400, "invalid_json")


def test_unknown_model_is_404(client, pool):
    err = assert_envelope(client.post(URL, json={"model": "mistral-large", "messages": HI}), 404,
                          "model_not_found", "model")
    assert "mistral-large" in err["message"]
    assert not pool.asks


def test_body_over_the_limit_is_413(make_app, pool):
    client = make_app(MAX_BODY_BYTES=100).test_client()
    payload = {"messages": [{"role": "user", "content": "x" * 200}]}
    err = assert_envelope(client.post(URL, json=payload), 413, "request_too_large")
    assert "LINGMA_MAX_BODY_BYTES" in err["message"]
    assert not pool.asks


@pytest.mark.parametrize("error, status, code, headers", [
    (le.LingmaNotReadyError("starting"), 503, "lingma_not_ready", {"Retry-After": "5"}),
    (le.LingmaNotLoggedInError("no account"), 503, "lingma_not_logged_in", {"x-should-retry": "false"}),
    (le.LingmaBusyError("full", retry_after=2.2), 429, "lingma_busy", {"Retry-After": "3"}),
    (le.LingmaBusyError("full"), 429, "lingma_busy", {"Retry-After": "1"}),
    (le.LingmaRateLimitError("slow down", retry_after=7), 429, "rate_limit_exceeded", {"Retry-After": "7"}),
    (le.LingmaQuotaError("quota gone"), 429, "insufficient_quota", {"x-should-retry": "false"}),
    (le.LingmaForbiddenError("no"), 403, "lingma_forbidden", {}),
    (le.LingmaContentFilterError("blocked"), 400, "content_filter", {}),
    (le.LingmaTimeoutError("no first token", phase="first_token"), 504, "lingma_timeout", {}),
    (le.LingmaUpstreamError("boom", status_code=500), 502, "lingma_upstream_error", {}),
    (le.LingmaConnectionError("socket died"), 502, "lingma_connection_error", {}),
    (le.LingmaProtocolError("frame too big"), 502, "lingma_protocol_error", {}),
    (le.LingmaRpcError("chat/ask", -32000, "nope"), 502, "lingma_rpc_error", {}),
    (le.LingmaShutdownError("draining"), 503, "lingma_shutdown", {}),
])
@pytest.mark.parametrize("where", ["ask", "models", "stream"])
def test_lingma_errors_map_by_the_table(client, pool, error, status, code, headers, where):
    if where == "ask":
        pool.ask_error = error
    elif where == "models":
        pool.models_error = error
    else:
        # raised while reading a non-streamed answer (twice: a connection lost before the
        # first token is asked once more, test_lost_first_ask.py)
        pool.script(error)
        pool.script(error)
    resp = client.post(URL, json={"model": "auto", "messages": HI})
    err = assert_envelope(resp, status, code)
    for name, value in headers.items():
        assert resp.headers[name] == value
    assert error.message in err["message"]
    expected_type = {429: "requests", 403: "permission_error", 400: "invalid_request_error"}
    if code == "insufficient_quota":
        assert err["type"] == "insufficient_quota"
    else:
        assert err["type"] == expected_type.get(status, "server_error")


def test_stream_request_failing_early_is_json_not_sse(client, pool):
    pool.ask_error = le.LingmaBusyError("full", retry_after=1)
    resp = client.post(URL, json={"messages": HI, "stream": True})
    assert_envelope(resp, 429, "lingma_busy")


def test_not_ready_and_not_logged_in_say_how_to_fix(client, pool):
    pool.ask_error = le.LingmaNotLoggedInError("Lingma is not logged in")
    err = assert_envelope(client.post(URL, json={"messages": HI}), 503, "lingma_not_logged_in")
    assert err["message"] == ("Lingma is not logged in. Log it in at the gateway's status page,"
                              " /admin/ (or point LINGMA_LOGIN_FROM at a logged-in Lingma cache).")
    pool.ask_error = le.LingmaShutdownError("The gateway is shutting down")
    err = assert_envelope(client.post(URL, json={"messages": HI}), 503, "lingma_shutdown")
    assert err["message"] == "The gateway is shutting down. Retry in a moment."
    pool.ask_error = le.LingmaNotReadyError("starting")
    err = assert_envelope(client.post(URL, json={"messages": HI}), 503, "lingma_not_ready")
    assert "/health" in err["message"]


@pytest.mark.parametrize("method, path, status, code", [
    ("get", "/v1/nothing", 404, "unknown_url"),
    ("post", "/", 404, "unknown_url"),
    ("get", URL, 405, "method_not_allowed"),
    ("delete", "/v1/models", 405, "method_not_allowed"),
    ("post", "/health", 405, "method_not_allowed"),
])
def test_unknown_routes_and_methods_use_the_envelope(client, method, path, status, code):
    resp = getattr(client, method)(path)
    assert_envelope(resp, status, code)
    if status == 405:
        assert resp.headers["Allow"]


def test_unexpected_errors_are_a_bare_500(client, pool, caplog):
    pool.ask_error = RuntimeError("secret internals")
    resp = client.post(URL, json={"messages": HI})
    err = assert_envelope(resp, 500, "internal_error")
    assert "secret" not in resp.get_data(as_text=True)
    assert "Traceback" not in resp.get_data(as_text=True)
    assert err["type"] == "server_error"
    assert "secret internals" in caplog.text  # the traceback stays in the server log


def test_stream_is_closed_when_the_view_fails_after_ask(client, pool, monkeypatch):
    from lingma_flask.web import sse
    monkeypatch.setattr(sse, "event_stream", lambda *a, **k: 1 / 0)
    assert client.post(URL, json={"messages": HI, "stream": True}).status_code == 500
    assert pool.last.close_calls == 1
