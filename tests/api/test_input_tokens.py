"""POST /v1/responses/input_tokens (the SDK's `responses.input_tokens.count`), the count routes'
body limits, and the server-state fields the Responses face refuses instead of ignoring."""

import openai
import pytest

from lingma_flask.lingma.errors import LingmaNotReadyError

URL = "/v1/responses/input_tokens"
READ = {"type": "function", "name": "read_file", "description": "Read a file",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}},
                       "required": ["path"]}}
HI = [{"role": "user", "content": "hi"}]


def test_the_sdk_counts_what_the_response_reports(sdk, pool):
    request = {"model": "gpt-5", "instructions": "Be brief.", "tools": [READ],
               "input": [{"role": "user", "content": "Read README.md and summarise it " * 20}]}
    counted = sdk.responses.input_tokens.count(**request)
    assert counted.object == "response.input_tokens" and counted.input_tokens > 100
    assert counted.input_tokens == sdk.responses.create(**request).usage.input_tokens
    assert len(pool.asks) == 1   # counting asked Lingma nothing


def test_a_previous_response_counts_with_its_conversation(sdk, pool):
    first = sdk.responses.create(model="gpt-5", input="remember this long sentence " * 30)
    alone = sdk.responses.input_tokens.count(model="gpt-5", input="and now?")
    continued = sdk.responses.input_tokens.count(model="gpt-5", input="and now?",
                                                 previous_response_id=first.id)
    assert continued.input_tokens > alone.input_tokens + 100
    assert continued.input_tokens == sdk.responses.create(
        model="gpt-5", input="and now?", previous_response_id=first.id).usage.input_tokens
    with pytest.raises(openai.BadRequestError) as info:
        sdk.responses.input_tokens.count(model="gpt-5", input="x", previous_response_id="resp_x")
    assert info.value.code == "previous_response_not_found"


def test_an_unknown_model_is_a_404_and_counting_needs_no_lingma(client, pool):
    resp = client.post(URL, json={"model": "mistral-large", "input": "hi"})
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "model_not_found"
    pool.models_error = LingmaNotReadyError("starting")   # no registry yet: still counted
    resp = client.post(URL, json={"model": "anything-at-all", "input": "hi"})
    assert resp.status_code == 200 and resp.get_json()["input_tokens"] > 0


@pytest.mark.parametrize("path, body", [
    ("/v1/responses/input_tokens", {"input": "x" * 300}),
    ("/v1/messages/count_tokens", {"model": "claude-x", "messages": [
        {"role": "user", "content": "x" * 300}]}),
])
def test_the_count_routes_have_the_body_limit(make_app, pool, path, body):
    client = make_app(MAX_BODY_BYTES=200).test_client()
    resp = client.post(path, json=body)
    assert resp.status_code == 413
    assert "request_too_large" in resp.get_data(as_text=True)
    ok = {**body, "input": "x"} if "input" in body else {**body, "messages": HI}
    assert client.post(path, json=ok).status_code == 200


@pytest.mark.parametrize("path", ["/v1/responses/input_tokens", "/v1/messages/count_tokens"])
def test_the_count_routes_have_the_structure_limits(client, pool, path):
    deep = "[" * 100 + "]" * 100
    resp = client.post(path, data='{"input": ' + deep + "}", content_type="application/json")
    assert resp.status_code == 400 and "nest" in resp.get_data(as_text=True)


# -- server-side state: honoured or refused, never ignored ---------------------------------

@pytest.mark.parametrize("field, value", [
    ("conversation", "conv_123"),
    ("conversation", {"id": "conv_123"}),
    ("background", True),
    ("prompt", {"id": "pmpt_123", "version": "2"}),
])
@pytest.mark.parametrize("path", ["/v1/responses", "/v1/responses/input_tokens"])
def test_state_the_gateway_does_not_keep_is_refused(client, pool, path, field, value):
    resp = client.post(path, json={"model": "gpt-5", "input": "hi", field: value})
    assert resp.status_code == 400, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert error["param"] == field and error["code"] == "unsupported_parameter"
    assert field in error["message"] and not pool.asks


@pytest.mark.parametrize("field, value", [("conversation", None), ("background", False),
                                          ("prompt", None), ("store", False)])
def test_their_empty_values_are_fine(client, pool, field, value):
    resp = client.post("/v1/responses", json={"model": "gpt-5", "input": "hi", field: value})
    assert resp.status_code == 200


def test_the_sdk_sees_the_refusal_naming_the_param(sdk, pool):
    with pytest.raises(openai.BadRequestError) as info:
        sdk.responses.create(model="gpt-5", input="hi", conversation="conv_123")
    assert info.value.param == "conversation" and info.value.code == "unsupported_parameter"
    with pytest.raises(openai.BadRequestError) as info:
        sdk.responses.create(model="gpt-5", input="hi", background=True)
    assert info.value.param == "background"
    assert not pool.asks


@pytest.mark.parametrize("method, path", [
    ("POST", "/v1/conversations"), ("GET", "/v1/conversations/conv_1"),
    ("POST", "/v1/conversations/conv_1"), ("DELETE", "/v1/conversations/conv_1"),
    ("GET", "/v1/conversations/conv_1/items"), ("POST", "/v1/conversations/conv_1/items"),
    ("DELETE", "/v1/conversations/conv_1/items/msg_1"),
])
def test_the_conversations_api_is_refused_with_a_reason(client, method, path):
    resp = client.open(path, method=method, json={})
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["code"] == "unsupported_endpoint" and "previous_response_id" in error["message"]


def test_the_sdk_conversations_call_is_refused(sdk):
    with pytest.raises(openai.BadRequestError) as info:
        sdk.conversations.create(items=[{"type": "message", "role": "user", "content": "hi"}])
    assert info.value.code == "unsupported_endpoint"
