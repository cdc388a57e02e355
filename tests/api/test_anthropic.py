"""POST /v1/messages and /v1/messages/count_tokens: shapes, the event stream, errors, parsing."""

import base64
import itertools
import json

import pytest

from lingma_flask.lingma import errors as le
from lingma_flask.lingma.settings import CoreSettings
from lingma_flask.lingma.stream import Thought

from .anthropic_stream import blocks
from .anthropic_stream import check_grammar
from .anthropic_stream import parse
from .fakes import TICK

URL = "/v1/messages"
COUNT = "/v1/messages/count_tokens"
HI = [{"role": "user", "content": "hi"}]
READ = {"name": "Read", "description": "Read a file.",
        "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}},
                         "required": ["file_path"]}}
CALL = '<tool_call>\n{"name": "Read", "arguments": {"file_path": "/a.txt"}}\n</tool_call>'
PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()


def body(**fields):
    return {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": HI, **fields}


def stream(client, **fields):
    resp = client.post(URL, json=body(stream=True, **fields))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    events = parse(resp.get_data(as_text=True))
    check_grammar(events)
    return events


def names(events):
    return [name for name, _ in events]


def envelope(resp, status, kind):
    assert resp.status_code == status, resp.get_data(as_text=True)
    data = resp.get_json()
    assert set(data) == {"type", "error", "request_id"}
    assert data["type"] == "error" and set(data["error"]) == {"type", "message"}
    assert data["error"]["type"] == kind and data["error"]["message"]
    assert data["request_id"] == resp.headers["x-request-id"] == resp.headers["request-id"]
    return data["error"]


# -- non-streamed --------------------------------------------------------------------------

def test_non_stream_is_the_exact_message_object(client, pool):
    pool.script("Hello", " world")
    resp = client.post(URL, json=body())
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    data = resp.get_json()
    assert data["id"].startswith("msg_")
    assert data == {"id": data["id"], "type": "message", "role": "assistant",
                    "model": "claude-sonnet-4-5", "content": [{"type": "text", "text": "Hello world"}],
                    "stop_reason": "end_turn", "stop_sequence": None,
                    "usage": {"input_tokens": 5, "output_tokens": 3,
                              "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
    assert resp.headers["x-lingma-model"] == "qwen3-coder"
    assert pool.asks == [("hi", "qwen3-coder", None)]


def test_non_stream_thinking_text_and_tool_use(client, pool):
    pool.script(Thought("Let me"), Thought(" see."), "I will read it.\n", CALL)
    data = client.post(URL, json=body(model="kmodel", tools=[READ])).get_json()
    thinking, text, tool = data["content"]
    assert thinking["type"] == "thinking" and thinking["thinking"] == "Let me see."
    assert thinking["signature"]
    assert text == {"type": "text", "text": "I will read it.\n"}
    assert tool["type"] == "tool_use" and tool["id"].startswith("toolu_")
    assert tool["name"] == "Read" and tool["input"] == {"file_path": "/a.txt"}
    assert data["stop_reason"] == "tool_use"
    assert data["usage"]["output_tokens_details"]["thinking_tokens"] == 3


# -- the stream ----------------------------------------------------------------------------

def test_stream_event_order_and_shapes(client, pool):
    pool.script("Hel", "lo")
    events = stream(client)
    assert names(events) == ["message_start", "content_block_start", "content_block_delta",
                             "content_block_delta", "content_block_stop", "message_delta",
                             "message_stop"]
    message = events[0][1]["message"]
    assert message["id"].startswith("msg_")
    assert message == {"id": message["id"], "type": "message", "role": "assistant",
                       "model": "claude-sonnet-4-5", "content": [], "stop_reason": None,
                       "stop_sequence": None,
                       "usage": {"input_tokens": 5, "output_tokens": 0,
                                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
    assert events[1][1] == {"type": "content_block_start", "index": 0,
                            "content_block": {"type": "text", "text": ""}}
    assert events[2][1] == {"type": "content_block_delta", "index": 0,
                            "delta": {"type": "text_delta", "text": "Hel"}}
    assert events[3][1]["delta"]["text"] == "lo"
    assert events[4][1] == {"type": "content_block_stop", "index": 0}
    assert events[5][1] == {"type": "message_delta",
                            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                            "usage": {"input_tokens": 5, "output_tokens": 2,
                                      "cache_creation_input_tokens": 0,
                                      "cache_read_input_tokens": 0}}
    assert events[6][1] == {"type": "message_stop"}


def test_stream_headers_and_message_start_at_once(client, pool):
    pool.script(TICK, "late")
    resp = client.post(URL, json=body(stream=True))
    assert resp.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert resp.headers["Cache-Control"] == "no-cache" and resp.headers["X-Accel-Buffering"] == "no"
    assert resp.headers["x-lingma-model"] == "qwen3-coder"
    first = next(iter(resp.response))
    assert (first.decode() if isinstance(first, bytes) else first).startswith("event: message_start\n")
    resp.close()


def test_ping_before_the_first_token_and_while_quiet(client, pool):
    pool.script(TICK, TICK, "a", TICK, "b")
    events = stream(client)
    assert names(events)[:4] == ["message_start", "ping", "ping", "content_block_start"]
    assert names(events)[5] == "ping"
    assert [data for name, data in events if name == "ping"] == [{"type": "ping"}] * 3
    assert blocks(events) == [{"type": "text", "text": "ab"}]


def test_thinking_block_first_on_a_reasoning_model(client, pool):
    pool.script(Thought("Hmm"), TICK, Thought(", yes."), "Answer", " here")
    events = stream(client, model="kmodel")
    assert names(events) == [
        "message_start", "content_block_start", "content_block_delta", "ping",
        "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta",
        "content_block_stop", "message_delta", "message_stop"]
    assert events[1][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert events[2][1]["delta"] == {"type": "thinking_delta", "thinking": "Hmm"}
    signature = events[5][1]["delta"]
    assert signature["type"] == "signature_delta" and signature["signature"]
    thinking, text = blocks(events)
    assert thinking["thinking"] == "Hmm, yes." and text == {"type": "text", "text": "Answer here"}
    usage = events[-2][1]["usage"]
    assert usage["output_tokens"] > usage["output_tokens_details"]["thinking_tokens"] > 0


@pytest.mark.parametrize("thinking", [{"type": "enabled", "budget_tokens": 2048},
                                      {"type": "adaptive"}])
def test_thinking_asked_for_shows_on_any_model(client, pool, thinking):
    pool.script(Thought("why"), "so")
    events = stream(client, thinking=thinking)
    assert [b["type"] for b in blocks(events)] == ["thinking", "text"]
    assert blocks(events)[0]["thinking"] == "why"


@pytest.mark.parametrize("thinking", [None, {"type": "disabled"}])
def test_reasoning_is_dropped_when_not_asked_on_a_plain_model(client, pool, thinking):
    pool.script(Thought("secret"), "so")
    extra = {"thinking": thinking} if thinking else {}
    events = stream(client, **extra)
    assert blocks(events) == [{"type": "text", "text": "so"}]
    assert events[1][1]["index"] == 0


def test_thinking_display_omitted_keeps_the_block_without_text(client, pool):
    omitted = {"type": "adaptive", "display": "omitted"}
    pool.script(Thought("private"), "done")
    events = stream(client, model="kmodel", thinking=omitted)
    thinking, text = blocks(events)
    assert thinking["thinking"] == "" and thinking["signature"]
    assert "private" not in json.dumps(events) and text["text"] == "done"
    pool.script(Thought("private"), "done")
    data = client.post(URL, json=body(model="kmodel", thinking=omitted)).get_json()
    assert data["content"][0]["type"] == "thinking" and data["content"][0]["thinking"] == ""


def test_tool_use_blocks_after_the_text(client, pool):
    pool.script("Reading.\n", CALL, "\n", CALL.replace("/a.txt", "/b.txt"))
    events = stream(client, tools=[READ])
    text, first, second = blocks(events)
    assert text == {"type": "text", "text": "Reading.\n"}
    for block, path in ((first, "/a.txt"), (second, "/b.txt")):
        assert block["type"] == "tool_use" and block["id"].startswith("toolu_")
        assert block["name"] == "Read" and block["input"] == {"file_path": path}
    starts = [data for name, data in events if name == "content_block_start"]
    assert starts[1]["content_block"] == {"type": "tool_use", "id": first["id"], "name": "Read",
                                          "input": {}}
    deltas = [data["delta"] for name, data in events
              if name == "content_block_delta" and data["index"] == 1]
    assert deltas == [{"type": "input_json_delta", "partial_json": '{"file_path": "/a.txt"}'}]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_a_call_without_text_starts_at_index_zero(client, pool):
    pool.script(CALL)
    events = stream(client, tools=[READ], tool_choice={"type": "any"})
    assert [b["type"] for b in blocks(events)] == ["tool_use"]
    assert events[1][1]["index"] == 0


def test_disable_parallel_tool_use_keeps_one_call(client, pool):
    pool.script(CALL, CALL)
    events = stream(client, tools=[READ],
                    tool_choice={"type": "auto", "disable_parallel_tool_use": True})
    assert [b["type"] for b in blocks(events)] == ["tool_use"]
    assert "Call at most one function." in pool.asks[0][0]


def test_stop_sequence_is_named(client, pool):
    pool.script("one two ", "END three")
    events = stream(client, stop_sequences=["zzz", "END"])
    assert blocks(events) == [{"type": "text", "text": "one two "}]
    assert events[-2][1]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}
    assert pool.last.cancel_calls


def test_max_tokens_is_honoured(client, pool):
    pool.script("abcd", "efgh", "ijkl")
    events = stream(client, max_tokens=1)
    assert blocks(events) == [{"type": "text", "text": "abcd"}]
    assert events[-2][1]["delta"]["stop_reason"] == "max_tokens"
    assert events[-2][1]["usage"]["output_tokens"] == 1


def test_content_filter_mid_answer_is_a_refusal(client, pool):
    pool.script("some", le.LingmaContentFilterError("blocked"))
    events = stream(client)
    assert events[-2][1]["delta"]["stop_reason"] == "refusal"


def test_an_error_mid_block_abandons_it(client, pool):
    pool.script(Thought("x"), "partial", le.LingmaTimeoutError("idle for 60 s", phase="idle"))
    events = stream(client, model="kmodel")
    assert names(events) == ["message_start", "content_block_start", "content_block_delta",
                             "content_block_delta", "content_block_stop", "content_block_start",
                             "content_block_delta", "error"]
    assert events[-1][1] == {"type": "error", "request_id": events[-1][1]["request_id"],
                             "error": {"type": "timeout_error", "message": "idle for 60 s"}}
    assert pool.last.close_calls >= 1


def test_unexpected_errors_hide_the_details(client, pool):
    pool.script("x", RuntimeError("secret detail"))
    events = stream(client)
    assert events[-1][1]["error"]["type"] == "api_error"
    assert "secret detail" not in json.dumps(events)


ITEMS = {"tick": TICK, "think": Thought("t"), "text": "words ", "call": CALL,
         "error": le.LingmaUpstreamError("boom"), "filter": le.LingmaContentFilterError("no")}


@pytest.mark.parametrize("script", [
    combo for size in (1, 2, 3)
    for combo in itertools.product(("tick", "think", "text", "call", "error"), repeat=size)
    if "error" not in combo[:-1]] + [("think", "tick", "text", "call", "error"),
                                     ("tick", "think", "text", "think", "text", "call"),
                                     ("think", "text", "filter"), ("call", "call", "error")])
@pytest.mark.parametrize("model", ["kmodel", "qwen3-coder"])
def test_every_event_mix_keeps_the_block_grammar(client, pool, script, model):
    pool.script(*(ITEMS[item] for item in script))
    stream(client, model=model, tools=[READ])   # check_grammar runs on every stream


def test_client_disconnect_closes_the_lingma_stream(client, pool, request_log):
    pool.script("a", TICK, TICK, "b")
    resp = client.post(URL, json=body(stream=True))
    next(iter(resp.response))
    resp.close()
    assert pool.last.close_calls == 1
    assert request_log()[-1]["error"] == "client_disconnected"


# -- errors --------------------------------------------------------------------------------

@pytest.mark.parametrize("error, status, kind, headers", [
    (le.LingmaNotReadyError("starting"), 529, "overloaded_error", {"Retry-After": "5"}),
    (le.LingmaBusyError("full", retry_after=2.2), 529, "overloaded_error", {"Retry-After": "3"}),
    (le.LingmaShutdownError("draining"), 529, "overloaded_error", {"Retry-After": "1"}),
    (le.LingmaNotLoggedInError("no account"), 500, "api_error", {"x-should-retry": "false"}),
    (le.LingmaRateLimitError("slow down", retry_after=7), 429, "rate_limit_error",
     {"Retry-After": "7"}),
    (le.LingmaQuotaError("quota gone"), 429, "rate_limit_error", {"x-should-retry": "false"}),
    (le.LingmaForbiddenError("no"), 403, "permission_error", {}),
    (le.LingmaContentFilterError("blocked"), 400, "invalid_request_error", {}),
    (le.LingmaTimeoutError("no first token", phase="first_token"), 504, "timeout_error", {}),
    (le.LingmaUpstreamError("boom", status_code=500), 502, "api_error", {}),
    (le.LingmaConnectionError("socket died"), 502, "api_error", {}),
])
@pytest.mark.parametrize("streamed", [False, True])
def test_lingma_errors_before_the_stream_use_the_envelope(client, pool, error, status, kind,
                                                          headers, streamed):
    pool.ask_error = error
    resp = client.post(URL, json=body(stream=streamed))
    err = envelope(resp, status, kind)
    assert error.message in err["message"]
    for name, value in headers.items():
        assert resp.headers[name] == value


@pytest.mark.parametrize("error, kind", [
    (le.LingmaBusyError("full"), "overloaded_error"),
    (le.LingmaRateLimitError("slow"), "rate_limit_error"),
    (le.LingmaUpstreamError("boom"), "api_error"),
])
def test_lingma_errors_in_the_stream_use_the_envelope(client, pool, error, kind):
    pool.script("x", error)
    events = stream(client)
    assert events[-1][1]["error"]["type"] == kind
    assert events[-1][1]["error"]["message"].startswith(error.message)


def test_auth_errors_use_the_envelope_and_both_key_headers_work(make_app, pool):
    client = make_app(API_KEYS="k1").test_client()
    envelope(client.post(URL, json=body()), 401, "authentication_error")
    envelope(client.post(URL, json=body(), headers={"x-api-key": "nope"}), 401,
             "authentication_error")
    envelope(client.post(COUNT, json=body()), 401, "authentication_error")
    for headers in ({"x-api-key": "k1"}, {"Authorization": "Bearer k1"}):
        assert client.post(URL, json=body(), headers=headers).status_code == 200


def test_foreign_origin_is_403_permission_error(client):
    resp = client.post(URL, json=body(), headers={"Origin": "https://evil.example"})
    envelope(resp, 403, "permission_error")


def test_unknown_model_is_404_not_found(client, pool):
    err = envelope(client.post(URL, json=body(model="mistral-nope")), 404, "not_found_error")
    assert "mistral-nope" in err["message"] and not pool.asks
    envelope(client.post(COUNT, json=body(model="mistral-nope")), 404, "not_found_error")


def test_body_over_the_limit_is_413(make_app, pool):
    client = make_app(MAX_BODY_BYTES=100).test_client()
    envelope(client.post(URL, json=body(messages=[{"role": "user", "content": "x" * 200}])),
             413, "request_too_large")


def test_invalid_json_is_400(client):
    envelope(client.post(URL, data="{nope", content_type="application/json"), 400,
             "invalid_request_error")


def test_prompt_too_long_reads_like_anthropic(client, pool):
    pool.settings = CoreSettings(max_prompt_chars=1000)
    pool.ask_error = le.LingmaPromptTooLargeError("The prompt is 4000 characters long")
    err = envelope(client.post(URL, json=body(messages=[{"role": "user", "content": "y" * 4000}])),
                   400, "invalid_request_error")
    tokens = client.post(COUNT, json=body(messages=[{"role": "user", "content": "y" * 4000}]))
    actual = tokens.get_json()["input_tokens"]
    assert err["message"] == f"prompt is too long: {actual} tokens > {actual * 1000 // 4000} maximum"


@pytest.mark.parametrize("fields, param", [
    ({"max_tokens": "9"}, "max_tokens"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": None}, "max_tokens"),
    ({"stream": "yes"}, "stream"),
    ({"model": ""}, "model"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user"}]}, "messages[0]"),
    ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0].content[0].text"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
     "messages[0].content[0].text"),
    ({"system": 5}, "system"),
    ({"temperature": 1.5}, "temperature"),
    ({"top_k": "3"}, "top_k"),
    ({"stop_sequences": "END"}, "stop_sequences"),
    ({"thinking": {"type": "enabled"}}, "thinking"),
    ({"thinking": {"type": "sometimes"}}, "thinking.type"),
    ({"tools": [{"name": "f"}]}, "tools[0]"),
    ({"tool_choice": {"type": "tool"}}, "tool_choice"),
    ({"tool_choice": {"type": "tool", "name": "Other"}, "tools": [READ]}, "tool_choice.name"),
    ({"tool_choice": {"type": "auto", "disable_parallel_tool_use": "no"}},
     "tool_choice.disable_parallel_tool_use"),
    ({"metadata": "me"}, "metadata"),
])
def test_strict_types_are_400_naming_the_field(client, pool, fields, param):
    payload = body(**fields)
    if fields.get("max_tokens", 1) is None:
        del payload["max_tokens"]
    err = envelope(client.post(URL, json=payload), 400, "invalid_request_error")
    assert param in err["message"]
    assert not pool.asks


@pytest.mark.parametrize("block, words", [
    ({"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}, "fetches no URLs"),
    ({"type": "image", "source": {"type": "base64", "media_type": "text/plain", "data": "AA=="}},
     "data URI"),
    ({"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                     "data": "AA=="}}, "Only text documents"),
    ({"type": "document", "source": {"type": "url", "url": "https://x/y.pdf"}}, "Only text"),
    ({"type": "hologram", "data": "x"}, "'hologram' are not supported"),
    ({"type": "tool_use", "id": "t1", "name": "Read", "input": {}}, "'tool_use' are not supported"),
])
def test_unsupported_content_is_a_clear_400(client, pool, block, words):
    payload = body(messages=[{"role": "user", "content": [block]}])
    err = envelope(client.post(URL, json=payload), 400, "invalid_request_error")
    assert words in err["message"] and not pool.asks


# -- what reaches Lingma -------------------------------------------------------------------

def test_unknown_fields_headers_and_beta_query_are_accepted(client, pool):
    payload = body(metadata={"user_id": "u"}, temperature=0.3, top_p=0.9, top_k=5,
                   service_tier="auto", context_management={"edits": [{"type": "clear"}]},
                   output_config={"effort": "medium"}, container=None, frobnicate={"x": [1]},
                   thinking={"type": "adaptive", "display": "summarized"})
    headers = {"anthropic-version": "2023-06-01", "anthropic-beta": "a-1,b-2",
               "anthropic-dangerous-direct-browser-access": "true", "x-app": "cli"}
    resp = client.post(URL + "?beta=true", json=payload, headers=headers)
    assert resp.status_code == 200 and resp.get_json()["content"][0]["text"] == "Hello world"
    assert client.post(COUNT + "?beta=true", json=payload, headers=headers).status_code == 200


def test_system_string_blocks_and_system_messages_join_the_instructions(client, pool):
    payload = body(system=[{"type": "text", "text": "x-anthropic-billing-header: cc_version=1;"},
                           {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
                   messages=[{"role": "user", "content": [{"type": "text", "text": "Say hello"}]},
                             {"role": "system", "content": "# Environment\ncwd: /w",
                              "output_config": {"effort": "medium"}}])
    assert client.post(URL, json=payload).status_code == 200
    prompt = pool.asks[0][0]
    assert prompt.startswith("System instructions:\nBe brief.\n\n# Environment\ncwd: /w\n\nUser:\nSay hello")
    assert "billing-header" not in prompt and prompt.endswith("Assistant:")


def test_a_system_message_cleared_at_the_next_user_message(client, pool):
    payload = body(messages=[{"role": "user", "content": "a"},
                             {"role": "system", "content": "ONCE", "clear_at": "next_user_message"},
                             {"role": "system", "content": "ALWAYS"},
                             {"role": "assistant", "content": "b"},
                             {"role": "user", "content": "c"}])
    client.post(URL, json=payload)
    assert "ONCE" not in pool.asks[0][0] and "ALWAYS" in pool.asks[0][0]


def test_tool_results_come_right_after_the_call_then_the_text(client, pool):
    payload = body(tools=[READ], messages=[
        {"role": "user", "content": "read a"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hidden thought", "signature": "s"},
            {"type": "redacted_thinking", "data": "zzz"},
            {"type": "text", "text": "Reading."},
            {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "/a"}}]},
        {"role": "user", "content": [
            {"type": "text", "text": "<system-reminder>late text</system-reminder>"},
            {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
             "content": [{"type": "text", "text": "no such file"},
                         {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                      "data": "AAAA"}}],
             "cache_control": {"type": "ephemeral"}}]}])
    assert client.post(URL, json=payload).status_code == 200
    prompt = pool.asks[0][0]
    call = prompt.index('<tool_call>\n{"name": "Read", "arguments": {"file_path": "/a"}}')
    result = prompt.index('<tool_response>\n{"name": "Read", "call_id": "toolu_1", "content":'
                          ' "The tool reported an error:\\nno such file\\n[image]"}')
    text = prompt.index("User:\n<system-reminder>late text</system-reminder>")
    assert prompt.index("Assistant:\nReading.") < call < result < text
    assert "hidden thought" not in prompt and "zzz" not in prompt
    assert pool.images == [()]   # a tool result's image is not sent


def test_tool_result_content_as_string_and_blocks(client, pool):
    payload = body(messages=[
        {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "f", "input": {}},
                                          {"type": "tool_use", "id": "b", "name": "g", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "a", "content": "plain"},
            {"type": "tool_result", "tool_use_id": "b", "content": [
                {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                                "data": "doc body"}, "title": "T"},
                {"type": "search_result", "source": "s://1", "title": "Hit",
                 "content": [{"type": "text", "text": "found"}]}]}]}])
    client.post(URL, json=payload)
    prompt = pool.asks[0][0]
    assert '"call_id": "a", "content": "plain"' in prompt
    assert '"call_id": "b", "content": "T\\ndoc body\\nHit (s://1)\\nfound"' in prompt


def test_server_tools_and_their_blocks_are_left_out(client, pool):
    payload = body(
        tools=[READ, {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
               {"type": "bash_20250124", "name": "bash"},
               {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
               {"type": "computer_20250124", "name": "computer", "display_width_px": 1},
               {"type": "mcp_toolset", "mcp_server_name": "docs"}],
        messages=[{"role": "user", "content": "q"},
                  {"role": "assistant", "content": [
                      {"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {}},
                      {"type": "web_search_tool_result", "tool_use_id": "srv", "content": []},
                      {"type": "text", "text": "searched"}]},
                  {"role": "user", "content": "more"}])
    assert client.post(URL, json=payload).status_code == 200
    prompt = pool.asks[0][0]
    assert '"name": "Read"' in prompt and "Assistant:\nsearched" in prompt
    for name in ("web_search", "bash", "str_replace_based_edit_tool", "computer"):
        assert f'"name": "{name}"' not in prompt


def test_deferred_tools_wait_for_a_reference(client, pool):
    late = {**READ, "name": "LateTool", "defer_loading": True}
    placeholder = {"name": "DeferredToolPlaceholder", "description": "never call",
                   "input_schema": {"type": "object", "properties": {}}, "defer_loading": True}
    first = body(tools=[READ, late, placeholder])
    client.post(URL, json=first)
    assert '"name": "LateTool"' not in pool.asks[0][0] and "Placeholder" not in pool.asks[0][0]
    found = body(tools=[READ, late, placeholder], messages=[
        {"role": "user", "content": "find it"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "s", "name": "ToolSearch",
                                           "input": {"query": "late"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "s", "content": [
            {"type": "tool_reference", "tool_name": "LateTool"}]}]}])
    client.post(URL, json=found)
    assert '"name": "LateTool"' in pool.asks[1][0] and "Placeholder" not in pool.asks[1][0]


def test_mid_conversation_tool_changes(client, pool):
    extra = {"name": "Extra", "input_schema": {"type": "object", "properties": {}}}
    payload = body(tools=[READ], messages=[
        {"role": "user", "content": "go"},
        {"role": "system", "content": [
            {"type": "tool_addition", "tool": {"type": "tool_definition", "definition": extra}},
            {"type": "tool_removal", "tool": {"type": "tool_reference", "name": "Read"}}]}])
    client.post(URL, json=payload)
    assert '"name": "Extra"' in pool.asks[0][0] and '"name": "Read"' not in pool.asks[0][0]


@pytest.mark.parametrize("choice, expected, absent", [
    ({"type": "any"}, "You must call at least one function.", None),
    ({"type": "tool", "name": "Read"}, "You must call the function Read.", None),
    ({"type": "none"}, None, "# Tools"),
    ({"type": "auto"}, "# Tools", "You must"),
])
def test_tool_choice(client, pool, choice, expected, absent):
    pool.script(CALL)
    client.post(URL, json=body(tools=[READ], tool_choice=choice))
    if expected:
        assert expected in pool.asks[0][0]
    if absent:
        assert absent not in pool.asks[0][0]


def test_output_config_format_asks_for_json(client, pool):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    pool.script('{"n": 3}')
    data = client.post(URL, json=body(output_config={"format": {"type": "json_schema",
                                                                "schema": schema}})).get_json()
    assert json.loads(data["content"][0]["text"]) == {"n": 3}
    assert "<response_schema>" in pool.asks[0][0]


@pytest.mark.parametrize("asked, key, aliases", [
    ("claude-sonnet-4-5-20250929", "qwen3-coder", {}),
    ("claude-3-5-haiku-latest", "kmodel", {"claude-3-5-haiku-latest": "Kimi-K2"}),
    ("kmodel", "kmodel", {}),
])
def test_claude_names_map_to_the_default_unless_aliased(make_app, pool, asked, key, aliases):
    client = make_app(MODEL_ALIASES=aliases).test_client()
    resp = client.post(URL, json=body(model=asked))
    assert resp.get_json()["model"] == asked
    assert resp.headers["x-lingma-model"] == key and pool.asks[-1][1] == key


def test_images_reach_a_vision_model_and_others_refuse(client, pool):
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": PNG.split(",", 1)[1]}}
    content = [image, {"type": "text", "text": "what is it?"}]
    payload = body(model="vl", messages=[{"role": "user", "content": content}])
    assert client.post(URL, json=payload).status_code == 200
    assert pool.images[-1] == (PNG,)
    assert pool.asks[-1][0] == "what is it?"   # a lone user turn is sent as it is
    err = envelope(client.post(URL, json={**payload, "model": "qwen3-coder"}), 400,
                   "invalid_request_error")
    assert "does not accept images" in err["message"]


# -- count_tokens --------------------------------------------------------------------------

def test_count_tokens_equals_the_usage_estimate(client, pool):
    payload = body(system="Be brief.", tools=[READ], messages=[
        {"role": "user", "content": "read /a please"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Read",
                                           "input": {"file_path": "/a"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "x"}]}])
    counted = client.post(COUNT, json={k: v for k, v in payload.items() if k != "max_tokens"})
    assert counted.status_code == 200 and set(counted.get_json()) == {"input_tokens"}
    assert not pool.asks
    usage = client.post(URL, json=payload).get_json()["usage"]
    assert counted.get_json()["input_tokens"] == usage["input_tokens"] > 50


def test_count_tokens_grows_with_the_input_and_is_never_zero(client, pool):
    small = client.post(COUNT, json=body()).get_json()["input_tokens"]
    big = client.post(COUNT, json=body(messages=[{"role": "user", "content": "word " * 400}]))
    assert 0 < small < big.get_json()["input_tokens"]
    with_tools = client.post(COUNT, json=body(tools=[READ])).get_json()["input_tokens"]
    assert with_tools > small and not pool.asks


def test_count_tokens_needs_no_ready_pool(client, pool):
    pool.models_error = le.LingmaNotReadyError("starting")
    for model in ("claude-sonnet-4-5", "qwen-whatever"):   # the registry cannot be asked
        assert client.post(COUNT, json=body(model=model)).get_json()["input_tokens"] > 0


def test_claude_code_first_request_shape(client, pool):
    """The shape Claude Code sends (trimmed): system blocks, a system message, adaptive thinking."""
    pool.script(Thought("plan"), "Hello!")
    payload = {
        "model": "claude-opus-5-5", "max_tokens": 128000, "stream": True,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "<system-reminder>\nx\n</system-reminder>"},
                                         {"type": "text", "text": "Say hello"}]},
            {"role": "system", "content": "# Environment\n - cwd: /w", "output_config": {"effort": "medium"}}],
        "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1;"},
                   {"type": "text", "text": "You are a Claude agent.", "cache_control": {"type": "ephemeral"}}],
        "tools": [READ, {"name": "DeferredToolPlaceholder", "description": "never call",
                         "input_schema": {"type": "object", "properties": {}}, "defer_loading": True}],
        "metadata": {"user_id": "{\"device_id\":\"d\"}"},
        "thinking": {"type": "adaptive", "display": "summarized"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "medium"},
    }
    resp = client.post(URL + "?beta=true", json=payload,
                       headers={"anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
                                "anthropic-version": "2023-06-01", "x-api-key": "sk-ant-x"})
    events = parse(resp.get_data(as_text=True))
    check_grammar(events)
    assert [b["type"] for b in blocks(events)] == ["thinking", "text"]
    assert blocks(events)[1]["text"] == "Hello!"
