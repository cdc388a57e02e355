"""POST /v1/responses: request parsing, the response object, every stream event, errors, store."""

import json

import openai.types.responses as sdk_types
import pydantic
import pytest

from lingma_flask.api.responses_request import parse_responses_request
from lingma_flask.lingma.errors import LingmaBusyError
from lingma_flask.lingma.errors import LingmaPromptTooLargeError
from lingma_flask.lingma.errors import LingmaQuotaError
from lingma_flask.lingma.errors import LingmaRateLimitError
from lingma_flask.lingma.errors import LingmaTimeoutError
from lingma_flask.lingma.stream import Thought
from lingma_flask.pipeline.conversation import PastCall
from lingma_flask.pipeline.conversation import Turn
from lingma_flask.pipeline.tools.spec import ToolChoice
from lingma_flask.web.errors import ApiError

from .fakes import TICK
from .sse import frames

URL = "/v1/responses"
STREAM_EVENT = pydantic.TypeAdapter(sdk_types.ResponseStreamEvent)
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather of a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}, "strict": True}
CALL_BLOCK = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
PNG = "data:image/png;base64,iVBORw0KGgo="
TEXT_EVENTS = ["response.output_item.added", "response.content_part.added",
               "response.output_text.delta", "response.output_text.delta",
               "response.output_text.done", "response.content_part.done",
               "response.output_item.done"]


def body(**fields):
    return {"model": "qwen3-coder", "input": "hi", **fields}


def parse(data, history=lambda _id: None):
    return parse_responses_request(data, history)


def read_stream(resp):
    """Decode a Responses SSE body into (name, data) pairs; comments become ("comment", text)."""
    out = []
    for frame in frames(resp.get_data(as_text=True)):
        if frame.startswith(":"):
            out.append(("comment", frame))
            continue
        name_line, data_line = frame.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: "), frame
        data = json.loads(data_line[len("data: "):])
        assert data["type"] == name_line[len("event: "):]
        out.append((data["type"], data))
    return out


def events_of(resp):
    """The JSON events of a stream, checked: numbered 0, 1, 2..., each valid for the SDK."""
    items = [data for name, data in read_stream(resp) if name != "comment"]
    assert [e["sequence_number"] for e in items] == list(range(len(items)))
    for event in items:
        STREAM_EVENT.validate_python(sdk_view(event))
    return items


def sdk_view(event):
    """The event as the SDK's types can check it: its ResponseError lists no Codex-only codes.

    Codex acts on `insufficient_quota` and `context_length_exceeded`; the SDK's literal lacks
    them (it builds responses without validation, so they pass through at run time).
    """
    error = event.get("response", {}).get("error")
    if error and error["code"] in ("insufficient_quota", "context_length_exceeded"):
        return {**event, "response": {**event["response"], "error": {**error,
                                                                     "code": "server_error"}}}
    return event


def stream(client, **fields):
    return client.post(URL, json=body(stream=True, **fields))


# -- request parsing -------------------------------------------------------------------------

def test_a_string_input_is_one_user_turn():
    chat = parse({"input": "hello", "model": "gpt-5"}).chat
    assert chat.turns == (Turn("user", "hello"),)
    assert chat.model == "gpt-5" and chat.call_prefix == "call_"


def test_codex_items_render_in_order():
    items = [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "base"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "read it"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "content": None, "encrypted_content": None},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "exec_command",
         "arguments": '{"cmd": "cat a"}', "status": "completed"},
        {"type": "function_call", "call_id": "call_2", "name": "exec_command", "arguments": "{}"},
        {"type": "function_call_output", "id": "fco_1", "call_id": "call_1", "output": "A"},
        {"type": "function_call_output", "call_id": "call_2",
         "output": [{"type": "input_text", "text": "B"}]},
        {"type": "custom_tool_call", "call_id": "call_3", "name": "apply_patch", "input": "*** P"},
        {"type": "custom_tool_call_output", "call_id": "call_3", "output": "done"},
        {"role": "user", "content": "thanks"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed"},
    ]
    chat = parse({"input": items, "instructions": "be brief"}).chat
    assert chat.turns == (
        Turn("system", "be brief"),
        Turn("system", "base"),
        Turn("user", "read it"),
        Turn("assistant", "ok", calls=(PastCall("call_1", "exec_command", '{"cmd": "cat a"}'),
                                       PastCall("call_2", "exec_command", "{}"))),
        Turn("tool", "A", call_id="call_1"),
        Turn("tool", "B", call_id="call_2"),
        Turn("assistant", calls=(PastCall("call_3", "apply_patch", '{"input": "*** P"}'),)),
        Turn("tool", "done", call_id="call_3"),
        Turn("user", "thanks"),
    )


def test_function_and_custom_tools_are_offered_and_other_kinds_left_out():
    tools = [WEATHER, {"type": "web_search"}, {"type": "custom", "name": "apply_patch"},
             {"type": "namespace", "name": "multi_agent_v1", "tools": [WEATHER]},
             {"type": "local_shell"}, {"type": "tool_search", "execution": "client"}]
    parsed = parse({"input": "x", "tools": tools, "tool_choice": "required"})
    assert [t.name for t in parsed.chat.tools] == ["get_weather", "apply_patch"]
    assert [t.freeform for t in parsed.chat.tools] == [False, True]
    assert parsed.chat.tool_choice == ToolChoice.required()
    assert parsed.echo["tools"] == tools


@pytest.mark.parametrize("value, expected", [
    ("auto", ToolChoice.auto()), ("none", ToolChoice.none()), ("required", ToolChoice.required()),
    ({"type": "function", "name": "get_weather"}, ToolChoice.named("get_weather")),
    ({"type": "web_search"}, ToolChoice.auto()),
])
def test_tool_choice(value, expected):
    assert parse({"input": "x", "tools": [WEATHER], "tool_choice": value}).chat.tool_choice == expected


def test_a_named_tool_choice_must_be_offered():
    with pytest.raises(ApiError) as info:
        parse({"input": "x", "tools": [WEATHER], "tool_choice": {"type": "function", "name": "f"}})
    assert info.value.status == 400 and info.value.param == "tool_choice"


@pytest.mark.parametrize("fmt, schema, strict", [
    ({"type": "json_object"}, None, False),
    ({"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": True},
     {"type": "object"}, True),
])
def test_text_format_becomes_the_response_format(fmt, schema, strict):
    rf = parse({"input": "x", "text": {"format": fmt}}).chat.response_format
    assert rf.schema == schema and rf.strict is strict
    assert parse({"input": "x", "text": {"format": {"type": "text"}}}).chat.response_format is None


def test_limits_and_flags():
    chat = parse({"input": "x", "max_output_tokens": 50, "parallel_tool_calls": False}).chat
    assert chat.max_tokens == 50 and chat.parallel_tools is False and chat.stream is False


def test_unknown_fields_are_accepted_and_listed():
    parsed = parse({"input": "x", "store": False, "include": ["reasoning.encrypted_content"],
                    "prompt_cache_key": "k", "client_metadata": {"session_id": "s"},
                    "reasoning": {"summary": "auto"}, "frobnicate": [1], "truncation": "auto",
                    "service_tier": "flex", "user": "u", "metadata": {"a": "b"}})
    assert parsed.store is False
    assert parsed.chat.ignored == ("client_metadata", "frobnicate", "include", "metadata",
                                   "prompt_cache_key", "reasoning", "service_tier",
                                   "truncation", "user")


@pytest.mark.parametrize("fields, param", [
    ({"stream": "yes"}, "stream"),
    ({"store": "no"}, "store"),
    ({"max_output_tokens": "5"}, "max_output_tokens"),
    ({"max_output_tokens": 0}, "max_output_tokens"),
    ({"input": 5}, "input"),
    ({"input": [{"role": "bot", "content": "x"}]}, "input[0].role"),
    ({"input": [{"role": "user", "content": [{"type": "input_text"}]}]}, "input[0].content[0]"),
    ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
    ({"input": [{"content": "no role, no type"}]}, "input[0].type"),
    ({"tools": {"type": "function"}}, "tools"),
    ({"tools": [{"type": "function"}]}, "tools[0].name"),
    ({"tool_choice": "sometimes"}, "tool_choice"),
    ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format"),
    ({"model": ""}, "model"),
    ({"metadata": {"a": 1}}, "metadata.a"),
])
def test_strict_types(client, fields, param):
    resp = client.post(URL, json=body(**fields))
    assert resp.status_code == 400
    assert resp.get_json()["error"]["param"] == param


def test_missing_input_is_a_400(client):
    resp = client.post(URL, json={"model": "auto", "instructions": "only this"})
    assert resp.status_code == 400
    assert resp.get_json()["error"] == {"message": "Missing required parameter: 'input'.",
                                        "type": "invalid_request_error", "param": "input",
                                        "code": "missing_required_parameter"}


# -- images ----------------------------------------------------------------------------------

def test_an_inline_image_goes_to_lingma(client, pool):
    content = [{"type": "input_text", "text": "what is it?"},
               {"type": "input_image", "image_url": PNG, "detail": "auto"}]
    resp = client.post(URL, json=body(model="vl", input=[{"role": "user", "content": content}]))
    assert resp.status_code == 200
    assert pool.images[-1] == (PNG,)
    assert pool.asks[-1][0] == "what is it?"


@pytest.mark.parametrize("part, code", [
    ({"type": "input_image", "image_url": "https://example.com/cat.png"}, "invalid_image_url"),
    ({"type": "input_image", "file_id": "file-123"}, "invalid_value"),
    ({"type": "input_file", "file_id": "file-123"}, "invalid_value"),
])
def test_images_must_be_inline(client, pool, part, code):
    content = [{"type": "input_text", "text": "x"}, part]
    resp = client.post(URL, json=body(input=[{"role": "user", "content": content}]))
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["param"] == "input[0].content[1]" and error["code"] == code
    assert pool.asks == []


# -- non-streamed ----------------------------------------------------------------------------

def test_non_stream_is_the_whole_response_object(client, pool):
    pool.script("Hello", " world")
    resp = client.post(URL, json=body(model="gpt-5.5", metadata={"k": "v"}, instructions="I"))
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    data = resp.get_json()
    sdk_types.Response.model_validate(data)
    assert data["id"].startswith("resp_") and data["object"] == "response"
    assert data["status"] == "completed" and data["model"] == "gpt-5.5"
    assert data["error"] is None and data["incomplete_details"] is None
    assert data["instructions"] == "I" and data["metadata"] == {"k": "v"}
    assert data["tools"] == [] and data["tool_choice"] == "auto"
    [message] = data["output"]
    assert message["id"].startswith("msg_")
    assert {k: v for k, v in message.items() if k != "id"} == {
        "type": "message", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "annotations": [], "logprobs": [],
                     "text": "Hello world"}]}
    usage = data["usage"]
    assert usage["output_tokens"] == 3
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["input_tokens_details"]["cached_tokens"] == 0
    assert usage["output_tokens_details"] == {"reasoning_tokens": 0}
    assert pool.asks[-1][1] == "qwen3-coder"


def test_both_routes(client, pool):
    for url in (URL, "/responses"):
        assert client.post(url, json=body()).status_code == 200
    assert len(pool.asks) == 2


def test_non_stream_max_output_tokens_is_incomplete(client, pool):
    pool.script("abcd", "efgh", "ijkl")
    data = client.post(URL, json=body(max_output_tokens=1)).get_json()
    assert data["status"] == "incomplete"
    assert data["incomplete_details"] == {"reason": "max_output_tokens"}
    assert data["output"][0]["status"] == "incomplete"
    assert data["output"][0]["content"][0]["text"] == "abcd"
    assert pool.last.cancel_calls


def test_non_stream_reasoning_and_tool_calls(client, pool):
    pool.script(Thought("Mull"), Thought("ing"), "Checking.\n", CALL_BLOCK)
    data = client.post(URL, json=body(tools=[WEATHER])).get_json()
    sdk_types.Response.model_validate(data)
    reasoning, message, call = data["output"]
    assert reasoning["type"] == "reasoning" and reasoning["id"].startswith("rs_")
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Mulling"}]
    assert message["content"][0]["text"].strip() == "Checking."
    assert call["type"] == "function_call" and call["id"].startswith("fc_")
    assert call["call_id"].startswith("call_") and call["status"] == "completed"
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {"city": "Paris"}
    assert data["usage"]["output_tokens_details"]["reasoning_tokens"] > 0


def test_json_schema_output(client, pool):
    pool.script('{"city": ', '"Paris"}')
    fmt = {"type": "json_schema", "name": "place", "strict": True,
           "schema": {"type": "object", "properties": {"city": {"type": "string"}},
                      "required": ["city"]}}
    data = client.post(URL, json=body(text={"format": fmt})).get_json()
    assert json.loads(data["output"][0]["content"][0]["text"]) == {"city": "Paris"}
    assert data["text"] == {"format": fmt}
    assert "<response_schema>\n" + json.dumps(fmt["schema"]) in pool.asks[-1][0]


# -- streamed --------------------------------------------------------------------------------

def test_stream_headers_and_no_done(client, pool):
    resp = stream(client)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert resp.headers["Cache-Control"] == "no-cache" and resp.headers["X-Accel-Buffering"] == "no"
    assert "[DONE]" not in resp.get_data(as_text=True)


def test_stream_text_events_exactly(client, pool):
    pool.script("Hel", "lo")
    events = events_of(stream(client, model="gpt-5"))
    assert [e["type"] for e in events] == (["response.created", "response.in_progress"]
                                           + TEXT_EVENTS + ["response.completed"])
    created, progress, added, part_added, d1, d2, text_done, part_done, item_done, completed = events
    head = created["response"]
    assert head["id"].startswith("resp_") and head["status"] == "in_progress"
    assert head["output"] == [] and head["usage"] is None and head["model"] == "gpt-5"
    assert progress["response"] == head
    item_id = added["item"]["id"]
    assert added == {"type": "response.output_item.added", "sequence_number": 2, "output_index": 0,
                     "item": {"id": item_id, "type": "message", "status": "in_progress",
                              "role": "assistant", "content": []}}
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    assert part_added == {"type": "response.content_part.added", "sequence_number": 3, **where,
                          "part": {"type": "output_text", "annotations": [], "logprobs": [],
                                   "text": ""}}
    assert d1 == {"type": "response.output_text.delta", "sequence_number": 4, **where,
                  "logprobs": [], "delta": "Hel"}
    assert d2["delta"] == "lo"
    assert text_done == {"type": "response.output_text.done", "sequence_number": 6, **where,
                         "text": "Hello", "logprobs": []}
    assert part_done["part"]["text"] == "Hello"
    assert item_done["item"] == {**added["item"], "status": "completed",
                                 "content": [part_done["part"]]}
    final = completed["response"]
    assert final["id"] == head["id"] and final["status"] == "completed"
    assert final["output"] == [item_done["item"]]
    assert final["usage"]["output_tokens"] == 2
    assert {k: v for k, v in final.items() if k not in ("status", "output", "usage",
                                                        "completed_at")} == \
        {k: v for k, v in head.items() if k not in ("status", "output", "usage", "completed_at")}


def test_every_chunk_is_sent_as_it_comes(client, pool):
    pool.script("a", "b", "c", "d")
    deltas = [e["delta"] for e in events_of(stream(client))
              if e["type"] == "response.output_text.delta"]
    assert deltas == ["a", "b", "c", "d"]


def test_first_events_come_before_the_first_token(client, pool):
    pool.script(TICK, "late")
    resp = stream(client)
    first = next(iter(resp.response))
    first = first.decode() if isinstance(first, bytes) else first
    assert first.startswith("event: response.created\n")
    resp.close()


def test_keepalives_while_lingma_is_quiet(client, pool, app):
    pool.script(TICK, TICK, "hi", TICK, " there")
    pairs = read_stream(stream(client))
    names = [name for name, _ in pairs]
    first_item = names.index("response.output_item.added")
    assert names[:first_item] == ["response.created", "response.in_progress",
                                  "comment", "response.in_progress",
                                  "comment", "response.in_progress"]
    assert {data for name, data in pairs if name == "comment"} == {": keepalive"}
    assert names.count("comment") == 3
    assert pool.last.waits == [app.extensions["lingma_api"].sse_keepalive]


def test_stream_reasoning_comes_first_as_a_reasoning_item(client, pool):
    pool.script(Thought("Think"), Thought("ing"), "Hel", "lo")
    events = events_of(stream(client))
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done",
        "response.output_item.done",
    ] + TEXT_EVENTS + ["response.completed"]
    added, part_added, d1, d2, text_done, part_done, done = events[2:9]
    rs_id = added["item"]["id"]
    assert rs_id.startswith("rs_") and added["item"] == {"id": rs_id, "type": "reasoning",
                                                         "summary": []}
    where = {"item_id": rs_id, "output_index": 0, "summary_index": 0}
    assert part_added == {"type": "response.reasoning_summary_part.added", "sequence_number": 3,
                          **where, "part": {"type": "summary_text", "text": ""}}
    assert (d1["delta"], d2["delta"]) == ("Think", "ing") and d1["item_id"] == rs_id
    assert text_done["text"] == "Thinking" and part_done["part"]["text"] == "Thinking"
    assert done["item"] == {"id": rs_id, "type": "reasoning",
                            "summary": [{"type": "summary_text", "text": "Thinking"}]}
    message_added = events[9]
    assert message_added["output_index"] == 1
    assert all(e["output_index"] == 1 for e in events[9:16])
    final = events[-1]["response"]
    assert [i["type"] for i in final["output"]] == ["reasoning", "message"]
    assert final["usage"]["output_tokens_details"]["reasoning_tokens"] > 0


def test_stream_text_then_function_calls(client, pool):
    pool.script("Let me check.\n", CALL_BLOCK, "\n", CALL_BLOCK.replace("Paris", "Rome"))
    events = events_of(stream(client, tools=[WEATHER]))
    call_events = ["response.output_item.added", "response.function_call_arguments.delta",
                   "response.function_call_arguments.done", "response.output_item.done"]
    assert [e["type"] for e in events] == (["response.created", "response.in_progress"]
                                           + TEXT_EVENTS[:3] + TEXT_EVENTS[4:]
                                           + call_events * 2 + ["response.completed"])
    added, delta, done, item_done = events[8:12]
    fc_id = added["item"]["id"]
    assert fc_id.startswith("fc_") and added["output_index"] == 1
    assert added["item"] == {"id": fc_id, "type": "function_call", "status": "in_progress",
                             "arguments": "", "call_id": added["item"]["call_id"],
                             "name": "get_weather"}
    assert added["item"]["call_id"].startswith("call_")
    assert delta == {"type": "response.function_call_arguments.delta", "sequence_number": 9,
                     "item_id": fc_id, "output_index": 1, "delta": '{"city": "Paris"}'}
    assert done["arguments"] == '{"city": "Paris"}' and done["item_id"] == fc_id
    assert item_done["item"] == {**added["item"], "status": "completed",
                                 "arguments": '{"city": "Paris"}'}
    assert events[12]["output_index"] == 2 and events[12]["item"]["call_id"] != \
        added["item"]["call_id"]
    final = events[-1]["response"]
    assert [i["type"] for i in final["output"]] == ["message", "function_call", "function_call"]
    assert final["status"] == "completed"


def test_stream_with_only_a_call_has_no_message_item(client, pool):
    pool.script(CALL_BLOCK)
    events = events_of(stream(client, tools=[WEATHER]))
    assert [e["type"] for e in events][2:] == [
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed"]
    assert events[2]["output_index"] == 0
    assert "function_call" in events[-1]["response"]["output"][0]["type"]


def test_stream_max_output_tokens_ends_incomplete(client, pool):
    pool.script("abcd", "efgh", "ijkl")
    events = events_of(stream(client, max_output_tokens=1))
    assert [e["type"] for e in events][-2:] == ["response.output_item.done",
                                                "response.incomplete"]
    assert events[-2]["item"]["status"] == "incomplete"
    final = events[-1]["response"]
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["output"][0]["content"][0]["text"] == "abcd"


@pytest.mark.parametrize("error, code, message", [
    (LingmaTimeoutError("no progress for 60 s", phase="idle"), "server_error", "no progress"),
    (LingmaRateLimitError("slow down", retry_after=7), "rate_limit_exceeded",
     "Please try again in 7s."),
    (LingmaQuotaError("quota exhausted"), "insufficient_quota", "quota exhausted"),
    (LingmaPromptTooLargeError("prompt too long"), "context_length_exceeded", "prompt too long"),
    (RuntimeError("secret detail"), "server_error", "internal error"),
])
def test_failure_mid_stream_is_response_failed(client, pool, error, code, message):
    pool.script("partial", error)
    events = events_of(stream(client))
    assert [e["type"] for e in events][-2:] == ["response.output_text.delta", "response.failed"]
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["id"] == events[0]["response"]["id"]
    assert failed["error"]["code"] == code and message in failed["error"]["message"]
    assert set(failed["error"]) == {"code", "message"}
    assert failed["output"][0]["status"] == "incomplete"
    assert failed["output"][0]["content"][0]["text"] == "partial"
    assert pool.last.close_calls >= 1


def test_rate_limit_without_retry_after_has_no_delay_hint(client, pool):
    pool.script(LingmaRateLimitError("slow down"))
    failed = events_of(stream(client))[-1]["response"]
    assert failed["error"] == {"code": "rate_limit_exceeded", "message": "slow down"}
    assert failed["output"] == []


@pytest.mark.parametrize("stream_flag", [True, False])
def test_errors_before_the_stream_are_the_openai_envelope(client, pool, stream_flag):
    pool.ask_error = LingmaBusyError("all slots busy", retry_after=3)
    resp = client.post(URL, json=body(stream=stream_flag))
    assert resp.status_code == 429 and resp.mimetype == "application/json"
    assert resp.headers["Retry-After"] == "3"
    error = resp.get_json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == "rate_limit_exceeded"


def test_unknown_model_is_404_but_codex_names_map_to_the_default(client, pool):
    resp = client.post(URL, json=body(model="no-such-model"))
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "model_not_found"
    for name in ("gpt-5.5", "o4-mini", "codex-mini-latest"):
        assert client.post(URL, json=body(model=name)).get_json()["model"] == name
        assert pool.asks[-1][1] == "qwen3-coder"


def test_client_disconnect_closes_the_stream(client, pool, request_log):
    pool.script("a", TICK, TICK, "b")
    resp = stream(client)
    next(iter(resp.response))
    assert pool.last.close_calls == 0
    resp.close()
    assert pool.last.close_calls == 1
    assert request_log()[-1]["error"] == "client_disconnected"


# -- prompts ---------------------------------------------------------------------------------

def test_developer_messages_and_hosted_tools_in_the_prompt(client, pool):
    items = [{"type": "message", "role": "developer",
              "content": [{"type": "input_text", "text": "You are Codex."}]},
             {"type": "message", "role": "user",
              "content": [{"type": "input_text", "text": "list files"}]}]
    tools = [WEATHER, {"type": "web_search"}, {"type": "custom", "name": "apply_patch"}]
    resp = client.post(URL, json=body(input=items, tools=tools, store=False))
    assert resp.status_code == 200
    prompt = pool.asks[-1][0]
    assert prompt.startswith("System instructions:\nYou are Codex.")
    assert "get_weather" in prompt and "apply_patch" in prompt and "web_search" not in prompt
    assert prompt.endswith("User:\nlist files\n\nAssistant:")
    assert resp.get_json()["tools"] == tools


def test_tool_outputs_follow_their_calls_in_the_prompt(client, pool):
    items = [{"role": "user", "content": "weather?"},
             {"type": "function_call", "call_id": "call_a", "name": "get_weather",
              "arguments": '{"city": "Paris"}'},
             {"type": "function_call_output", "call_id": "call_a", "output": "sunny"}]
    client.post(URL, json=body(input=items, tools=[WEATHER]))
    prompt = pool.asks[-1][0]
    call_at = prompt.index('"name": "get_weather", "arguments": {"city": "Paris"}')
    result_at = prompt.index('"name": "get_weather", "call_id": "call_a", "content": "sunny"')
    assert prompt.index("User:\nweather?") < call_at < result_at


# -- previous_response_id --------------------------------------------------------------------

def test_previous_response_id_continues_the_conversation(client, pool):
    pool.script("Paris is sunny.")
    first = client.post(URL, json=body(input="Weather in Paris?")).get_json()
    pool.script("You're welcome.")
    second = client.post(URL, json=body(input="Thanks", previous_response_id=first["id"],
                                        instructions="Be kind")).get_json()
    assert second["previous_response_id"] == first["id"]
    prompt = pool.asks[-1][0]
    assert prompt == ("System instructions:\nBe kind\n\nUser:\nWeather in Paris?\n\n"
                      "Assistant:\nParis is sunny.\n\nUser:\nThanks\n\nAssistant:")
    client.post(URL, json=body(input="Bye", previous_response_id=second["id"]))
    assert pool.asks[-1][0].startswith("User:\nWeather in Paris?\n\nAssistant:\nParis is sunny."
                                       "\n\nUser:\nThanks\n\nAssistant:\nYou're welcome.")
    assert "Be kind" not in pool.asks[-1][0]   # instructions are not carried over


def test_a_streamed_response_with_calls_is_stored(client, pool):
    pool.script(CALL_BLOCK)
    events = events_of(stream(client, input="weather?", tools=[WEATHER]))
    final = events[-1]["response"]
    call = final["output"][0]
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}
    resp = client.post(URL, json=body(input=[output], previous_response_id=final["id"],
                                      tools=[WEATHER]))
    assert resp.status_code == 200
    prompt = pool.asks[-1][0]
    call_at = prompt.index('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}')
    assert prompt.index("User:\nweather?") < call_at \
        < prompt.index(f'"call_id": "{call["call_id"]}", "content": "sunny"')


def test_unknown_previous_response_id_is_a_400(client, pool):
    resp = client.post(URL, json=body(previous_response_id="resp_nope", stream=True))
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["code"] == "previous_response_not_found"
    assert error["param"] == "previous_response_id" and error["type"] == "invalid_request_error"
    assert pool.asks == []


def test_store_false_is_not_kept(client, pool, app):
    data = client.post(URL, json=body(store=False)).get_json()
    assert data["store"] is False
    resp = client.post(URL, json=body(previous_response_id=data["id"]))
    assert resp.status_code == 400
    assert len(app.extensions["lingma_responses_store"]) == 0


def test_failed_streams_are_not_stored(client, pool, app):
    pool.script("x", LingmaTimeoutError("idle", phase="idle"))
    events_of(stream(client))
    assert len(app.extensions["lingma_responses_store"]) == 0


def test_busy_is_the_rate_limit_codex_retries(client, pool):
    from lingma_flask.lingma.errors import LingmaBusyError
    pool.ask_error = LingmaBusyError("all slots busy", retry_after=2)
    resp = client.post("/v1/responses", json={"model": "qwen3-coder", "input": "hi"})
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "2"
    assert resp.get_json()["error"]["code"] == "rate_limit_exceeded"
