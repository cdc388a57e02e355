"""The chat face on the shared pipeline: tools, structured output, reasoning, images."""

import json

import pytest

from lingma_flask.lingma.stream import Thought

from .sse import content
from .sse import payloads

URL = "/v1/chat/completions"
HI = [{"role": "user", "content": "read the readme"}]
READ = {"type": "function", "function": {
    "name": "read_file", "description": "Read a file",
    "parameters": {"type": "object", "properties": {"path": {"type": "string"}},
                   "required": ["path"]}}}
LS = {"type": "function", "function": {"name": "ls", "parameters": {"type": "object"}}}
CALL = '<tool_call>\n{"name": "read_file", "arguments": {"path": "README.md"}}\n</tool_call>'
BAD = '<tool_call>\n{"name": "read_file", "arguments": {"file": 1}}\n</tool_call>'
PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4"
         "DwABBAEAwS2OUAAAAABJRU5ErkJggg==")


def chat(client, **fields):
    return client.post(URL, json={"model": "qwen3-coder", "messages": HI, **fields})


def deltas(resp):
    return [c["choices"][0]["delta"] for c in payloads(resp.get_data(as_text=True))
            if isinstance(c, dict) and c.get("choices")]


# -- tools --------------------------------------------------------------------------

def test_a_call_comes_back_as_tool_calls_with_json_arguments(client, pool):
    pool.script("Let me look.\n", CALL)
    data = chat(client, tools=[READ]).get_json()
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me look.\n"
    call = choice["message"]["tool_calls"][0]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"]["name"] == "read_file"
    assert json.loads(call["function"]["arguments"]) == {"path": "README.md"}
    prompt = pool.asks[0][0]
    assert "<tools>" in prompt and '"name": "read_file"' in prompt


@pytest.mark.parametrize("cut", range(1, len("Reading.\n" + CALL)))
def test_no_markup_leaks_whatever_the_chunk_boundary(client, pool, cut):
    answer = "Reading.\n" + CALL
    pool.script(answer[:cut], answer[cut:])
    resp = chat(client, tools=[READ], stream=True)
    got = deltas(resp)
    text = "".join(d.get("content") or "" for d in got)
    assert text == "Reading.\n"
    calls = [d["tool_calls"] for d in got if "tool_calls" in d]
    assert len(calls) == 1 and calls[0][0]["index"] == 0
    assert json.loads(calls[0][0]["function"]["arguments"]) == {"path": "README.md"}


def test_stream_text_before_the_call_is_progressive(client, pool):
    pool.script("one ", "two ", CALL)
    got = deltas(chat(client, tools=[READ], stream=True))
    assert [d.get("content") for d in got[1:3]] == ["one ", "two "]
    finish = payloads(chat_stream_body(client, pool))[-2]
    assert finish["choices"][0]["finish_reason"] == "tool_calls"


def chat_stream_body(client, pool):
    pool.script(CALL)
    return chat(client, tools=[READ], stream=True).get_data(as_text=True)


def test_an_invalid_call_gets_one_repair_turn(client, pool, tool_events):
    pool.script(BAD)
    pool.script(CALL)
    data = chat(client, tools=[READ]).get_json()
    assert data["choices"][0]["finish_reason"] == "tool_calls"
    repair_prompt = pool.asks[1][0]
    assert "<tool_call_error>" in repair_prompt and "'path' is a required property" in repair_prompt
    assert tool_events == {("read_file", "repair"): 1, ("read_file", "call"): 1}
    assert all(s.close_calls >= 1 for s in pool.streams)


def test_a_repair_answer_in_many_chunks_is_read_whole(client, pool):
    pool.script("Reading.\n", BAD)
    pool.script(*[CALL[i:i + 7] for i in range(0, len(CALL), 7)])
    data = chat(client, tools=[READ]).get_json()
    assert data["choices"][0]["finish_reason"] == "tool_calls"
    assert data["choices"][0]["message"]["content"] == "Reading.\n"


def test_a_failed_repair_drops_the_call_and_stops_under_drop(make_app, pool):
    client = make_app(INVALID_TOOL_CALLS="drop").test_client()
    pool.script("Text around. ", BAD)
    pool.script(BAD)
    data = chat(client, tools=[READ]).get_json()
    choice = data["choices"][0]
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]
    assert choice["message"]["content"] == "Text around. "   # the repair answer had no text


@pytest.mark.parametrize("tool_choice", ["required", {"type": "function", "function": {"name": "read_file"}}])
def test_a_required_call_that_never_comes_is_a_502(make_app, pool, tool_choice):
    client = make_app(INVALID_TOOL_CALLS="drop").test_client()
    pool.script("no call")
    pool.script(BAD)
    resp = chat(client, tools=[READ], tool_choice=tool_choice)
    err = resp.get_json()["error"]
    assert resp.status_code == 502 and err["code"] == "tool_call_invalid"
    assert "read_file" in err["message"]


def test_tool_choice_none_and_named_shape_the_prompt(client, pool):
    chat(client, tools=[READ, LS], tool_choice="none")
    assert "<tools>" not in pool.asks[-1][0]
    pool.script(CALL)
    chat(client, tools=[READ, LS], tool_choice={"type": "function", "function": {"name": "read_file"}})
    prompt = pool.asks[-1][0]
    assert '"name": "read_file"' in prompt and '"name": "ls"' not in prompt
    assert "You must call the function read_file." in prompt


def test_parallel_false_keeps_the_first_call(client, pool):
    other = CALL.replace("README.md", "NOTES.md")
    pool.script(CALL, "\n", other)
    calls = chat(client, tools=[READ], parallel_tool_calls=False).get_json()["choices"][0]["message"]["tool_calls"]
    assert [json.loads(c["function"]["arguments"])["path"] for c in calls] == ["README.md"]
    pool.script(CALL, "\n", other)
    calls = chat(client, tools=[READ]).get_json()["choices"][0]["message"]["tool_calls"]
    assert len(calls) == 2 and calls[0]["id"] != calls[1]["id"]


def test_deprecated_functions_work_like_tools(client, pool):
    pool.script(CALL)
    data = chat(client, functions=[READ["function"]], function_call={"name": "read_file"}).get_json()
    assert data["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "read_file"


# -- structured output --------------------------------------------------------------

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_json_schema_answers_are_validated_json(client, pool):
    pool.script('```json\n{"city": ', '"Paris"}\n```')
    fmt = {"type": "json_schema", "json_schema": {"name": "place", "schema": SCHEMA, "strict": True}}
    data = chat(client, response_format=fmt).get_json()
    assert json.loads(data["choices"][0]["message"]["content"]) == {"city": "Paris"}
    assert "<response_schema>" in pool.asks[0][0]


def test_an_invalid_json_answer_is_repaired_once_then_fails_clearly(client, pool):
    fmt = {"type": "json_schema", "json_schema": {"name": "place", "schema": SCHEMA}}
    pool.script('{"town": "Paris"}')
    pool.script('{"city": "Paris"}')
    assert json.loads(chat(client, response_format=fmt).get_json()["choices"][0]["message"]["content"])
    assert "<json_error>" in pool.asks[1][0]
    pool.script("prose")
    pool.script("still prose")
    resp = chat(client, response_format=fmt)
    assert resp.status_code == 502 and resp.get_json()["error"]["code"] == "response_format_invalid"


def test_streamed_json_is_sent_whole_when_valid(client, pool):
    pool.script('{"city"', ': "Rome"}')
    got = deltas(chat(client, response_format={"type": "json_object"}, stream=True))
    texts = [d["content"] for d in got if d.get("content")]
    assert texts == ['{"city": "Rome"}']


# -- reasoning and images -----------------------------------------------------------

def test_reasoning_is_separate_by_default(client, pool):
    pool.script(Thought("thinking..."), "Answer.")
    message = chat(client).get_json()["choices"][0]["message"]
    assert message["content"] == "Answer." and message["reasoning_content"] == "thinking..."
    pool.script(Thought("hmm"), "Hi")
    got = deltas(chat(client, stream=True))
    assert got[1] == {"reasoning_content": "hmm"} and got[2] == {"content": "Hi"}


def test_reasoning_tokens_are_in_the_usage(client, pool):
    pool.script(Thought("a b c d e f g h"), "Answer.")
    usage = chat(client).get_json()["usage"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] > 0
    assert usage["completion_tokens"] > usage["completion_tokens_details"]["reasoning_tokens"]


@pytest.mark.parametrize("mode, expected", [("inline", "<think>hmm</think>\nHi"), ("off", "Hi")])
def test_reasoning_inline_or_off(make_app, pool, mode, expected):
    client = make_app(REASONING=mode).test_client()
    pool.script(Thought("hmm"), "Hi")
    message = chat(client).get_json()["choices"][0]["message"]
    assert message["content"] == expected and "reasoning_content" not in message


def test_an_image_goes_to_a_vision_model(client, pool):
    parts = [{"type": "text", "text": "what is it?"}, {"type": "image_url", "image_url": {"url": PIXEL}}]
    resp = client.post(URL, json={"model": "vl", "messages": [{"role": "user", "content": parts}]})
    assert resp.status_code == 200 and pool.images[-1] == (PIXEL,)


def test_an_image_for_a_text_model_is_a_400_naming_the_vision_models(client, pool):
    parts = [{"type": "image_url", "image_url": {"url": PIXEL}}]
    resp = client.post(URL, json={"model": "qwen3-coder", "messages": [{"role": "user", "content": parts}]})
    err = resp.get_json()["error"]
    assert resp.status_code == 400 and err["code"] == "model_not_vision" and "vl" in err["message"]
    assert not pool.asks


def test_stream_content_helper_reads_text():
    assert content([{"choices": [{"delta": {"content": "x"}}]}]) == "x"
