"""Custom (freeform) tools on the Responses face: offered as a function of one string `input`,
answered as `custom_tool_call` items (streamed with `response.custom_tool_call_input.*`), and
accepted back as earlier calls and outputs. Codex's `apply_patch` is such a tool."""

import json

import openai.types.responses as sdk_types
import pytest

from lingma_flask.api.responses_request import parse_responses_request
from lingma_flask.pipeline.tools import freeform
from lingma_flask.pipeline.tools.spec import ToolChoice

from .test_responses import CALL_BLOCK
from .test_responses import URL
from .test_responses import WEATHER
from .test_responses import body
from .test_responses import events_of
from .test_responses import stream

GRAMMAR = ('start: begin hunk+ end\nbegin: "*** Begin Patch" LF\nend: "*** End Patch" LF?\n'
           'hunk: "*** Add File: " /(.+)/ LF ("+" /(.*)/ LF)+\n%import common.LF\n')
PATCH_TOOL = {"type": "custom", "name": "apply_patch",
              "description": "Edit files with a patch. This is a FREEFORM tool.",
              "format": {"type": "grammar", "syntax": "lark", "definition": GRAMMAR}}
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"


def patch_call(text=PATCH):
    return ("<tool_call>\n" + json.dumps({"name": "apply_patch", "arguments": {"input": text}})
            + "\n</tool_call>")


def parse(data):
    return parse_responses_request(data, lambda _id: None)


def offered_line(prompt, name):
    """The JSON line of the prompt's <tools> block that offers `name`."""
    start = prompt.index("<tools>\n") + len("<tools>\n")
    lines = [json.loads(x) for x in prompt[start:prompt.index("</tools>", start)].splitlines()]
    [line] = [x for x in lines if x["function"]["name"] == name]
    return line


# -- the offer -------------------------------------------------------------------------------

def test_a_custom_tool_is_offered_as_a_function_of_one_string():
    [tool] = parse({"input": "x", "tools": [PATCH_TOOL]}).chat.tools
    assert tool.name == "apply_patch" and tool.freeform
    assert tool.parameters == {"type": "object", "required": ["input"],
                               "additionalProperties": False,
                               "properties": {"input": {"type": "string", "description": (
                                   "The tool's whole input, as text in its own format.")}}}
    assert tool.description.startswith("Edit files with a patch. This is a FREEFORM tool.\n\n")
    assert "one string argument `input`" in tool.description
    assert tool.description.endswith("must follow this lark grammar:\n" + GRAMMAR.rstrip())


@pytest.mark.parametrize("fmt, summary", [
    (None, "The `input` text is free-form."),
    ({"type": "text"}, "The `input` text is free-form."),
    ({"type": "grammar", "syntax": "regex", "definition": "\\d+"},
     "The `input` text must follow this regex grammar:\n\\d+"),
])
def test_the_description_summarises_the_format(fmt, summary):
    tool = {"type": "custom", "name": "t", **({"format": fmt} if fmt else {})}
    [offered] = parse({"input": "x", "tools": [tool]}).chat.tools
    assert offered.description == freeform.HOW + "\n\n" + summary


def test_a_long_grammar_is_cut_at_a_line_end():
    lines = [f"rule{i}: \"{'x' * 40}\"" for i in range(200)]
    tool = {**PATCH_TOOL, "format": {**PATCH_TOOL["format"], "definition": "\n".join(lines)}}
    [offered] = parse({"input": "x", "tools": [tool]}).chat.tools
    shown = offered.description.split("lark grammar:\n", 1)[1]
    assert shown.endswith("\n... (the rest of the grammar is left out)")
    kept = shown.splitlines()[:-1]
    assert kept == lines[:len(kept)] and 0 < len("\n".join(kept)) <= freeform.GRAMMAR_CHARS


@pytest.mark.parametrize("tool, param", [
    ({"type": "custom", "name": "t", "format": {"type": "grammar", "syntax": "lark"}},
     "tools[0].format"),
    ({"type": "custom", "name": "t", "format": {"type": "grammar", "syntax": "ebnf",
                                                 "definition": "x"}}, "tools[0].format.syntax"),
    ({"type": "custom", "name": "t", "format": {"type": "json"}}, "tools[0].format.type"),
    ({"type": "custom", "name": ""}, "tools[0].name"),
    ({"type": "custom"}, "tools[0].name"),
])
def test_bad_custom_tools_are_a_400(client, tool, param):
    resp = client.post(URL, json=body(tools=[tool]))
    assert resp.status_code == 400
    assert resp.get_json()["error"]["param"] == param


def test_a_custom_tool_name_must_be_unique(client):
    resp = client.post(URL, json=body(tools=[{**WEATHER, "name": "apply_patch"}, PATCH_TOOL]))
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["param"] == "tools" and "apply_patch" in error["message"]


def test_a_named_custom_tool_choice():
    chat = parse({"input": "x", "tools": [WEATHER, PATCH_TOOL],
                  "tool_choice": {"type": "custom", "name": "apply_patch"}}).chat
    assert chat.tool_choice == ToolChoice.named("apply_patch")


@pytest.mark.parametrize("choice", [{"type": "custom", "name": "get_weather"},
                                    {"type": "function", "name": "apply_patch"}])
def test_a_named_choice_must_match_the_tools_kind(client, choice):
    resp = client.post(URL, json=body(tools=[WEATHER, PATCH_TOOL], tool_choice=choice))
    assert resp.status_code == 400 and resp.get_json()["error"]["param"] == "tool_choice"


def test_the_prompt_offers_it_beside_the_functions(client, pool):
    tools = [WEATHER, PATCH_TOOL, {"type": "web_search"}]
    assert client.post(URL, json=body(tools=tools, store=False)).status_code == 200
    prompt = pool.asks[-1][0]
    line = offered_line(prompt, "apply_patch")
    assert line["type"] == "function"
    assert line["function"]["parameters"]["required"] == ["input"]
    assert GRAMMAR.rstrip() in line["function"]["description"]
    assert offered_line(prompt, "get_weather")["function"]["parameters"] == WEATHER["parameters"]


# -- the answer ------------------------------------------------------------------------------

def test_non_stream_a_call_is_a_custom_tool_call_item(client, pool):
    pool.script("I'll add it.\n", patch_call())
    data = client.post(URL, json=body(tools=[WEATHER, PATCH_TOOL])).get_json()
    sdk_types.Response.model_validate(data)
    message, call = data["output"]
    assert message["type"] == "message"
    assert call == {"id": call["id"], "type": "custom_tool_call", "status": "completed",
                    "call_id": call["call_id"], "name": "apply_patch", "input": PATCH}
    assert call["id"].startswith("ctc_") and call["call_id"].startswith("call_")
    assert data["status"] == "completed"


def test_stream_events_of_a_custom_call(client, pool):
    pool.script(patch_call(), "\n", CALL_BLOCK)
    events = events_of(stream(client, tools=[WEATHER, PATCH_TOOL]))
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed"]
    added, delta, done, item_done = events[2:6]
    item_id = added["item"]["id"]
    assert item_id.startswith("ctc_") and added["output_index"] == 0
    assert added["item"] == {"id": item_id, "type": "custom_tool_call", "status": "in_progress",
                             "call_id": added["item"]["call_id"], "name": "apply_patch",
                             "input": ""}
    assert delta == {"type": "response.custom_tool_call_input.delta", "sequence_number": 3,
                     "item_id": item_id, "output_index": 0, "delta": PATCH}
    assert done == {"type": "response.custom_tool_call_input.done", "sequence_number": 4,
                    "item_id": item_id, "output_index": 0, "input": PATCH}
    assert item_done["item"] == {**added["item"], "status": "completed", "input": PATCH}
    assert events[6]["item"]["type"] == "function_call" and events[6]["output_index"] == 1
    final = events[-1]["response"]
    assert [i["type"] for i in final["output"]] == ["custom_tool_call", "function_call"]
    assert final["output"][0] == item_done["item"]


@pytest.mark.parametrize("answer", [
    # the text as the arguments string, as a model told "do not wrap it in JSON" may write it
    '<tool_call>\n' + json.dumps({"name": "apply_patch", "arguments": PATCH}) + '\n</tool_call>',
    # Qwen3-Coder's XML form: the text raw inside the parameter
    "<tool_call>\n<function=apply_patch>\n<parameter=input>\n" + PATCH
    + "</parameter>\n</function>\n</tool_call>",
])
def test_other_forms_of_the_call_give_the_same_input(client, pool, answer):
    pool.script(answer)
    data = client.post(URL, json=body(tools=[PATCH_TOOL])).get_json()
    [call] = data["output"]
    assert call["type"] == "custom_tool_call"
    assert call["input"].strip() == PATCH.strip()
    assert len(pool.asks) == 1   # no repair turn was needed


def test_a_call_without_input_gets_the_repair_turn(client, pool):
    pool.script('<tool_call>\n{"name": "apply_patch", "arguments": {}}\n</tool_call>')
    pool.script(patch_call())
    data = client.post(URL, json=body(tools=[PATCH_TOOL])).get_json()
    assert len(pool.asks) == 2 and "<tool_call_error>" in pool.asks[-1][0]
    assert "'input' is a required property" in pool.asks[-1][0]
    assert data["output"][-1]["input"] == PATCH


# -- the next request ------------------------------------------------------------------------

def test_codex_sends_the_call_and_its_output_back(client, pool):
    items = [{"role": "user", "content": "add hello.txt"},
             {"type": "custom_tool_call", "id": "ctc_1", "status": "completed",
              "call_id": "call_p", "name": "apply_patch", "input": PATCH},
             {"type": "custom_tool_call_output", "call_id": "call_p",
              "output": "Success. Updated the following files:\nA hello.txt\n"}]
    assert client.post(URL, json=body(input=items, tools=[PATCH_TOOL])).status_code == 200
    prompt = pool.asks[-1][0]
    call = '<tool_call>\n' + json.dumps({"name": "apply_patch", "arguments": {"input": PATCH}})
    result = json.dumps({"name": "apply_patch", "call_id": "call_p", "content": "Success. Updated the following files:"
                                                                 "\nA hello.txt\n"})
    assert prompt.index("User:\nadd hello.txt") < prompt.index(call) < prompt.index(result)


def test_a_stored_custom_call_continues_with_previous_response_id(client, pool):
    pool.script(patch_call())
    first = events_of(stream(client, input="add hello.txt", tools=[PATCH_TOOL]))[-1]["response"]
    [call] = first["output"]
    output = {"type": "custom_tool_call_output", "call_id": call["call_id"], "output": "Done!"}
    pool.script("Created hello.txt.")
    second = client.post(URL, json=body(input=[output], previous_response_id=first["id"],
                                        tools=[PATCH_TOOL])).get_json()
    assert second["output"][0]["content"][0]["text"] == "Created hello.txt."
    prompt = pool.asks[-1][0]
    assert json.dumps({"name": "apply_patch", "arguments": {"input": PATCH}}) in prompt
    assert f'"call_id": "{call["call_id"]}", "content": "Done!"' in prompt


# -- the openai SDK's stream parsers ---------------------------------------------------------

def test_sdk_stream_helper_collects_the_custom_call(sdk, pool):
    pool.script("Adding it.\n", patch_call())
    with sdk.responses.stream(model="gpt-5", input="add hello.txt",
                              tools=[PATCH_TOOL, WEATHER]) as events:
        seen = [e.type for e in events]
        final = events.get_final_response()
    assert "response.custom_tool_call_input.delta" in seen
    assert "response.custom_tool_call_input.done" in seen
    message, call = final.output
    assert isinstance(call, sdk_types.ResponseCustomToolCall)
    assert (call.name, call.input) == ("apply_patch", PATCH) and call.call_id.startswith("call_")
    assert final.output_text.strip() == "Adding it."


def test_sdk_create_streamed_parses_every_custom_event(sdk, pool):
    pool.script(patch_call())
    events = list(sdk.responses.create(model="gpt-5", input="add", tools=[PATCH_TOOL],
                                       stream=True))
    [delta] = [e for e in events if e.type == "response.custom_tool_call_input.delta"]
    [done] = [e for e in events if e.type == "response.custom_tool_call_input.done"]
    assert isinstance(delta, sdk_types.ResponseCustomToolCallInputDeltaEvent)
    assert isinstance(done, sdk_types.ResponseCustomToolCallInputDoneEvent)
    assert delta.delta == done.input == PATCH and delta.item_id == done.item_id
    [item] = [e.item for e in events if e.type == "response.output_item.done"]
    assert isinstance(item, sdk_types.ResponseCustomToolCall) and item.id == done.item_id
    assert events[-1].response.output[0].input == PATCH


def test_sdk_non_streamed_custom_call(sdk, pool):
    pool.script(patch_call())
    response = sdk.responses.create(model="gpt-5", input="add", tools=[PATCH_TOOL])
    [call] = response.output
    assert isinstance(call, sdk_types.ResponseCustomToolCall) and call.input == PATCH


# -- the chat completions face ---------------------------------------------------------------

CHAT_URL = "/v1/chat/completions"
CHAT_PATCH_TOOL = {"type": "custom", "custom": {
    "name": "apply_patch", "description": "Edit files with a patch.",
    "format": {"type": "grammar", "grammar": {"syntax": "lark", "definition": GRAMMAR}}}}
CHAT_WEATHER = {"type": "function", "function": {k: WEATHER[k] for k in
                                                 ("name", "description", "parameters")}}


def chat_body(**fields):
    return {"model": "qwen3-coder", "messages": [{"role": "user", "content": "add it"}], **fields}


def test_chat_offers_a_custom_tool_as_a_function(client, pool):
    resp = client.post(CHAT_URL, json=chat_body(tools=[CHAT_WEATHER, CHAT_PATCH_TOOL]))
    assert resp.status_code == 200
    line = offered_line(pool.asks[-1][0], "apply_patch")
    assert line["function"]["parameters"]["required"] == ["input"]
    assert line["function"]["description"].startswith("Edit files with a patch.\n\n")
    assert line["function"]["description"].endswith("lark grammar:\n" + GRAMMAR.rstrip())


def test_chat_answers_a_custom_tool_call(client, pool):
    pool.script(patch_call(), "\n", CALL_BLOCK)
    data = client.post(CHAT_URL, json=chat_body(tools=[CHAT_WEATHER, CHAT_PATCH_TOOL])).get_json()
    custom, function = data["choices"][0]["message"]["tool_calls"]
    assert custom == {"id": custom["id"], "type": "custom",
                      "custom": {"name": "apply_patch", "input": PATCH}}
    assert function["type"] == "function" and function["function"]["name"] == "get_weather"
    assert data["choices"][0]["finish_reason"] == "tool_calls"


def test_chat_streams_a_custom_tool_call(client, pool):
    pool.script(patch_call())
    resp = client.post(CHAT_URL, json=chat_body(tools=[CHAT_PATCH_TOOL], stream=True))
    chunks = [json.loads(f[len("data: "):]) for f in resp.get_data(as_text=True).split("\n\n")
              if f.startswith("data: {")]
    [entry] = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks
               if c["choices"] and c["choices"][0]["delta"].get("tool_calls")]
    assert entry == {"index": 0, "id": entry["id"], "type": "custom",
                     "custom": {"name": "apply_patch", "input": PATCH}}


def test_chat_history_with_a_custom_call(client, pool):
    messages = [{"role": "user", "content": "add it"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_c", "type": "custom",
                     "custom": {"name": "apply_patch", "input": PATCH}}]},
                {"role": "tool", "tool_call_id": "call_c", "content": "Done!"}]
    resp = client.post(CHAT_URL, json=chat_body(messages=messages, tools=[CHAT_PATCH_TOOL]))
    assert resp.status_code == 200
    prompt = pool.asks[-1][0]
    assert json.dumps({"name": "apply_patch", "arguments": {"input": PATCH}}) in prompt
    assert '"call_id": "call_c", "content": "Done!"' in prompt


@pytest.mark.parametrize("fields, param", [
    ({"tools": [{"type": "custom", "custom": {"name": "t", "format": {"type": "grammar"}}}]},
     "tools[0].custom.format"),
    ({"tools": [{"type": "custom"}]}, "tools[0].custom"),
    ({"tools": [CHAT_PATCH_TOOL, {**CHAT_WEATHER, "function": {"name": "apply_patch"}}]},
     "tools"),
    ({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "custom"}]}]},
     "messages[0].tool_calls[0]"),
])
def test_chat_bad_custom_tools_are_a_400(client, fields, param):
    resp = client.post(CHAT_URL, json=chat_body(**fields))
    assert resp.status_code == 400
    assert resp.get_json()["error"]["param"] == param


def test_chat_named_custom_choice(client, pool):
    choice = {"type": "custom", "custom": {"name": "apply_patch"}}
    pool.script(patch_call())
    resp = client.post(CHAT_URL, json=chat_body(tools=[CHAT_WEATHER, CHAT_PATCH_TOOL],
                                                tool_choice=choice))
    assert resp.status_code == 200
    assert resp.get_json()["choices"][0]["message"]["tool_calls"][0]["type"] == "custom"
    prompt = pool.asks[-1][0]
    assert "You must call the function apply_patch." in prompt
    assert '"name": "get_weather"' not in prompt


def test_chat_sdk_reads_custom_tool_calls(sdk, pool):
    pool.script(patch_call())
    completion = sdk.chat.completions.create(model="gpt-5", messages=[{"role": "user",
                                                                        "content": "add"}],
                                             tools=[CHAT_PATCH_TOOL])
    [call] = completion.choices[0].message.tool_calls
    assert call.type == "custom" and call.custom.name == "apply_patch"
    assert call.custom.input == PATCH


def test_chat_sdk_streamed_chunks_carry_the_custom_call(sdk, pool):
    # read as chunks: the SDK's chat `.stream()` helper (3.57.0) cannot snapshot custom calls
    pool.script(patch_call())
    chunks = list(sdk.chat.completions.create(
        model="gpt-5", messages=[{"role": "user", "content": "add"}], tools=[CHAT_PATCH_TOOL],
        stream=True))
    [call] = [c.choices[0].delta.tool_calls[0] for c in chunks
              if c.choices and c.choices[0].delta.tool_calls]
    assert call.type == "custom" and call.index == 0 and call.id.startswith("call_")
    assert call.model_extra["custom"] == {"name": "apply_patch", "input": PATCH}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
