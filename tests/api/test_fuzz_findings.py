"""Requests the fuzzer (tests/integration/test_fuzz.py) found mishandled, each pinned by a test.

Every finding is listed in docs/reliability.md with its fix.
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
