"""Requests the fuzzer and the bad-input corpus found mishandled, each pinned by a test.

The fuzzer is tests/integration/test_fuzz.py, the corpus tests/integration/test_bad_input.py;
every finding (F1, F2, ...) is listed in docs/reliability.md with its fix.
"""

from __future__ import annotations

import pytest

from lingma_flask.lingma.login import SharedLogin
from lingma_flask.lingma.settings import CoreSettings

HI = [{"role": "user", "content": "hi"}]
READ = {"name": "read_file", "parameters": {"type": "object"}}


# F1: an empty function name in a chat tool choice was a 500 (ToolChoice refused it late)
@pytest.mark.parametrize("fields, param", [
    ({"tool_choice": {"type": "function", "function": {"name": ""}}}, "tool_choice.function.name"),
    ({"function_call": {"name": ""}}, "function_call.name"),
])
def test_an_empty_chosen_function_name_is_400(client, pool, fields, param):
    resp = client.post("/v1/chat/completions", json={"messages": HI, **fields})
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json()["error"]["param"] == param
    assert not pool.asks


# F2: a tool choice demanding a call no offered tool can make went to Lingma and ended in a
# 502 `tool_call_invalid`; it is the client's mistake, so a 400 before Lingma is asked
@pytest.mark.parametrize("url, body", [
    ("/v1/chat/completions", {"messages": HI, "tool_choice": "required"}),
    ("/v1/chat/completions", {"messages": HI, "tools": [{"type": "function", "function": READ}],
                              "tool_choice": {"type": "function", "function": {"name": "other"}}}),
    ("/v1/chat/completions", {"messages": HI, "function_call": {"name": "other"}}),
    ("/v1/responses", {"input": "hi", "tool_choice": "required"}),
    ("/v1/responses", {"input": "hi", "tools": [{"type": "web_search"}], "tool_choice": "required"}),
], ids=["chat-required", "chat-named", "chat-function-call", "responses-required",
        "responses-hosted-only"])
def test_a_tool_choice_no_offered_tool_can_satisfy_is_400(client, pool, url, body):
    resp = client.post(url, json=body)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert error["code"] == "invalid_value" and error["param"] == "tool_choice"
    assert not pool.asks


def test_an_anthropic_any_choice_without_tools_is_400_in_its_envelope(client, pool):
    resp = client.post("/v1/messages", json={"model": "claude-x", "max_tokens": 9, "messages": HI,
                                             "tool_choice": {"type": "any"}})
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "tool_choice" in body["error"]["message"] and not pool.asks


def test_a_satisfiable_required_choice_still_reaches_lingma(client, pool):
    pool.script('<tool_call>\n{"name": "read_file", "arguments": {}}\n</tool_call>')
    resp = client.post("/v1/chat/completions", json={
        "messages": HI, "tools": [{"type": "function", "function": READ}], "tool_choice": "required"})
    assert resp.status_code == 200 and len(pool.asks) == 1
    assert resp.get_json()["choices"][0]["finish_reason"] == "tool_calls"


# F3: a content block whose `type` is an object or a list made the block discriminator raise
# TypeError (unhashable) inside pydantic: a 500 instead of a 400
@pytest.mark.parametrize("block_type", [{}, [], None, 5])
@pytest.mark.parametrize("url", ["/v1/messages", "/v1/messages/count_tokens"])
def test_an_anthropic_block_with_a_non_string_type_is_400(client, pool, url, block_type):
    content = [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": block_type}]}]
    resp = client.post(url, json={"model": "claude-x", "max_tokens": 9,
                                  "messages": [{"role": "user", "content": content}]})
    assert resp.status_code == 400, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["error"]["type"] == "invalid_request_error"
    assert "messages[0].content[0].content[0].type" in body["error"]["message"]


# F4: the admin API read a JSON array (or any non-object) body with `.get`: a 500
@pytest.mark.parametrize("url, code", [("/admin/api/endpoint", "invalid_value"),
                                       ("/admin/api/login/callback", "invalid_callback")])
@pytest.mark.parametrize("raw", [b"[null, null]", b'"text"', b"7"])
def test_an_admin_body_that_is_not_an_object_is_400(client, pool, url, code, raw, tmp_path):
    pool.instances = []
    pool.settings = CoreSettings.from_mapping({"WORK_DIR": str(tmp_path)})
    SharedLogin(pool.settings.login_root()).save_pending(
        {"login_url": "https://x", "instance": "lingma-0", "expected": {"port": 1}})
    resp = client.post(url, data=raw, content_type="application/json")
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json()["error"]["code"] == code


# F5: a request under /v1/messages that matched no route (a wrong method, an unknown sub-path)
# was answered in OpenAI's envelope, which Anthropic clients cannot read
@pytest.mark.parametrize("method, url, status, kind", [
    ("GET", "/v1/messages", 405, "invalid_request_error"),
    ("PUT", "/v1/messages/count_tokens", 405, "invalid_request_error"),
    ("POST", "/v1/messages/batches", 404, "not_found_error"),
])
def test_unrouted_requests_under_v1_messages_get_anthropics_envelope(client, method, url, status,
                                                                     kind):
    resp = client.open(url, method=method)
    body = resp.get_json()
    assert resp.status_code == status and body["type"] == "error"
    assert body["error"]["type"] == kind and body["request_id"] == resp.headers["x-request-id"]


def test_other_unrouted_requests_keep_openais_envelope(client):
    for url in ("/v1/messagesx", "/v1/chat/completions"):
        assert client.get(url).get_json()["error"]["code"] in ("unknown_url", "method_not_allowed")


# F6: temperature and top_p took strings and booleans ("1", true): pydantic's lax floats
@pytest.mark.parametrize("url, body", [
    ("/v1/chat/completions", {"messages": HI}),
    ("/v1/responses", {"input": "hi"}),
    ("/v1/messages", {"model": "claude-x", "max_tokens": 9, "messages": HI}),
], ids=["chat", "responses", "messages"])
@pytest.mark.parametrize("field, value", [("temperature", "1"), ("temperature", True),
                                          ("top_p", "0.5"), ("top_p", False)])
def test_numbers_are_json_numbers(client, pool, url, body, field, value):
    resp = client.post(url, json={**body, field: value})
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert field in resp.get_data(as_text=True) and not pool.asks


@pytest.mark.parametrize("value", [0, 1, 0.5])
def test_integer_and_float_numbers_are_still_numbers(client, value):
    resp = client.post("/v1/chat/completions", json={"messages": HI, "temperature": value,
                                                     "top_p": value})
    assert resp.status_code == 200


def test_a_json_schema_strict_flag_is_a_boolean(client, pool):
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {}, "strict": "yes"}}
    resp = client.post("/v1/chat/completions", json={"messages": HI, "response_format": fmt})
    assert resp.status_code == 400 and not pool.asks
    assert resp.get_json()["error"]["param"] == "response_format.json_schema.strict"


# F8: an answer cut at the token limit before its required call was "repaired" (a second ask,
# itself cut at once) and ended as a 502 `tool_call_invalid`; it is a `length` finish
@pytest.mark.parametrize("stream", [False, True])
def test_a_required_call_cut_at_the_token_limit_ends_as_length(client, pool, stream):
    pool.script("Let me call the tool now, please wait.\n",
                '<tool_call>\n{"name": "read_file", "arguments": {}}\n</tool_call>')
    resp = client.post("/v1/chat/completions", json={
        "messages": HI, "tools": [{"type": "function", "function": READ}],
        "tool_choice": "required", "max_tokens": 1, "stream": stream})
    assert resp.status_code == 200 and len(pool.asks) == 1
    text = resp.get_data(as_text=True)
    assert '"finish_reason":"length"' in text.replace(" ", "") and "tool_call_invalid" not in text
