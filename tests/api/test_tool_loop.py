"""The tool loop never ends silently (issue 16, items 1 to 4), on every face, streamed or not.

1. When no call is required and the repair answer has no valid call, its text is the answer.
2. A call still invalid after the repair is passed on as given (LINGMA_INVALID_TOOL_CALLS=pass,
   the default), dropped with a logged event (`drop`) or a 502 (`error`).
3. Call markup never leaks into the text, whatever the tool choice; unwanted calls are dropped.
4. Near-contract answers are taken: JSON in prose or fences, scalars of the wrong type, a bare
   JSON object for the one forced tool, an untagged {"name", "arguments"} under `required`.
"""

from __future__ import annotations

import json
import logging

import pytest

from lingma_flask.lingma.stream import Thought
from lingma_flask.pipeline.tools.eventlog import LOGGER

from .faces import FACES

WEATHER = ("get_weather", {"type": "object", "additionalProperties": False,
                           "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                           "required": ["city"]})
TIME = ("get_time", {"type": "object", "properties": {"zone": {"type": "string"}}})
GOOD = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
BAD = '<tool_call>\n{"name": "get_weather", "arguments": {"town": 1}}\n</tool_call>'
STREAMED = [False, True]
ALL = [(face, stream) for face in FACES for stream in STREAMED]


@pytest.fixture
def tool_log(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    return lambda: [json.loads(r.getMessage()) for r in caplog.records if r.name == LOGGER.name]


def ask(client, face, stream, **fields):
    return FACES[face].ask(client, "What is the weather in Paris?", stream=stream, **fields)


# -- 1. the repair turn's text --------------------------------------------------------------

@pytest.mark.parametrize("face, stream", ALL)
def test_the_repair_answer_without_a_call_is_the_answer(client, pool, face, stream):
    pool.script("Let me check the weather.\n", BAD)
    pool.script("It is sunny in Paris.")
    seen = ask(client, face, stream, tools=[WEATHER])
    assert seen.ended == "stop" and seen.calls == [] and seen.error is None
    # a whole answer gets the repair answer's text instead; a stream already sent the first
    # answer's prose, and the repair answer's text follows it
    first = "Let me check the weather.\n" if stream else ""
    assert seen.text == first + "It is sunny in Paris."
    assert "<tool_call_error>" in pool.asks[1][0] and "answer without calling a function" in pool.asks[1][0]


@pytest.mark.parametrize("face", FACES)
def test_a_stream_does_not_repeat_what_the_repair_answer_repeats(client, pool, face):
    pool.script("Let me check the weather.\n", BAD)
    pool.script("Let me check the weather.\nIt is sunny in Paris.")
    seen = ask(client, face, True, tools=[WEATHER])
    assert seen.text == "Let me check the weather.\nIt is sunny in Paris."


@pytest.mark.parametrize("face", FACES)
def test_a_stream_puts_the_repair_text_on_a_new_line(client, pool, face):
    pool.script("Checking.", BAD)
    pool.script("Sunny.")
    assert ask(client, face, True, tools=[WEATHER]).text == "Checking.\nSunny."


@pytest.mark.parametrize("face, stream", ALL)
def test_a_repair_answer_without_text_keeps_the_first_text(make_app, pool, face, stream):
    client = make_app(INVALID_TOOL_CALLS="drop").test_client()
    pool.script("Let me check.\n", BAD)
    pool.script(BAD)
    seen = ask(client, face, stream, tools=[WEATHER])
    assert (seen.text, seen.calls, seen.ended) == ("Let me check.\n", [], "stop")


@pytest.mark.parametrize("face, stream", ALL)
def test_a_repaired_call_keeps_the_first_text(client, pool, face, stream):
    pool.script("Let me check.\n", BAD)
    pool.script("Here goes.\n", GOOD)
    seen = ask(client, face, stream, tools=[WEATHER])
    assert seen.text == "Let me check.\n"
    assert (seen.calls, seen.ended) == ([("get_weather", {"city": "Paris"})], "tool_calls")


@pytest.mark.parametrize("stream", STREAMED)
def test_the_repair_text_keeps_the_stop_strings(client, pool, stream):
    pool.script("Checking.\n", BAD)
    pool.script("It is sunny. END of the weather report.")
    body = {"model": "qwen3-coder", "messages": [{"role": "user", "content": "weather?"}],
            "tools": [{"type": "function", "function": {"name": WEATHER[0], "parameters": WEATHER[1]}}],
            "stop": ["END"], "stream": stream}
    seen = FACES["chat"].read(client.post("/v1/chat/completions", json=body))
    first = "Checking.\n" if stream else ""
    assert (seen.text, seen.ended) == (first + "It is sunny. ", "stop")


@pytest.mark.parametrize("stream", STREAMED)
def test_inline_reasoning_stays_when_the_repair_text_replaces_the_first(make_app, pool, stream):
    client = make_app(REASONING="inline").test_client()
    pool.script(Thought("hmm"), "Checking.\n", BAD)
    pool.script("Sunny.")
    seen = ask(client, "chat", stream, tools=[WEATHER])
    assert seen.text == "<think>hmm</think>\n" + ("Checking.\n" if stream else "") + "Sunny."


def test_the_repair_text_of_a_whole_answer_is_counted_alone(client, pool):
    pool.script("A long preamble " * 50, BAD)
    pool.script("Sunny.")
    data = client.post("/v1/chat/completions", json={
        "model": "qwen3-coder", "messages": [{"role": "user", "content": "weather?"}],
        "tools": [{"type": "function", "function": {"name": WEATHER[0], "parameters": WEATHER[1]}}],
    }).get_json()
    assert data["choices"][0]["message"]["content"] == "Sunny."
    assert data["usage"]["completion_tokens"] < 10


# -- 2. a call still invalid after the repair ---------------------------------------------

@pytest.mark.parametrize("face, stream", ALL)
def test_an_invalid_call_is_passed_on_as_given(client, pool, tool_log, face, stream):
    pool.script("Checking.\n", BAD)
    pool.script(BAD)
    seen = ask(client, face, stream, tools=[WEATHER])
    assert seen.error is None
    assert (seen.calls, seen.ended) == ([("get_weather", {"town": 1})], "tool_calls")
    assert seen.text == "Checking.\n"
    fates = [(e["event"], e["detail"].split(":")[0]) for e in tool_log() if e.get("tool") == "get_weather"]
    assert fates == [("repair", "get_weather"), ("failure", "passed on as given")]


@pytest.mark.parametrize("given", ['"Paris, please"', '["Paris"]', "7"])
@pytest.mark.parametrize("face, stream", ALL)
def test_arguments_that_are_not_an_object_are_passed_wrapped_in_one(client, pool, face, stream, given):
    words = '<tool_call>\n{"name": "get_weather", "arguments": ' + given + '}\n</tool_call>'
    pool.script(words)
    pool.script(words)
    seen = ask(client, face, stream, tools=[WEATHER])
    # every client parses an object (Anthropic's `input` must be one); the agent's validation
    # then tells the model that `city` is missing
    assert (seen.calls, seen.ended) == ([("get_weather", {"arguments": json.loads(given)})], "tool_calls")


@pytest.mark.parametrize("face, stream", ALL)
def test_arguments_that_are_not_json_are_passed_as_text(client, pool, face, stream):
    words = '<tool_call>\n{"name": "get_weather", "arguments": "Paris, please}"}\n</tool_call>'
    pool.script(words)
    pool.script(words)
    seen = ask(client, face, stream, tools=[WEATHER])
    assert seen.calls == [("get_weather", {"arguments": "Paris, please}"})]


@pytest.mark.parametrize("face, stream", ALL)
def test_a_call_of_an_unknown_tool_is_passed_on(client, pool, face, stream):
    other = '<tool_call>\n{"name": "search", "arguments": {"q": "weather"}}\n</tool_call>'
    pool.script(other)
    pool.script(other)
    seen = ask(client, face, stream, tools=[WEATHER])
    assert (seen.calls, seen.ended) == ([("search", {"q": "weather"})], "tool_calls")


@pytest.mark.parametrize("face, stream", ALL)
def test_a_required_call_still_invalid_is_passed_on(client, pool, face, stream):
    pool.script("No call here.")
    pool.script(BAD)
    seen = ask(client, face, stream, tools=[WEATHER], choice="required")
    assert (seen.calls, seen.ended) == ([("get_weather", {"town": 1})], "tool_calls")


@pytest.mark.parametrize("face, stream", ALL)
def test_drop_leaves_the_call_out_and_logs_it(make_app, pool, tool_log, face, stream):
    client = make_app(INVALID_TOOL_CALLS="drop").test_client()
    pool.script("Checking.\n", BAD)
    pool.script("Checking again.\n", BAD)
    seen = ask(client, face, stream, tools=[WEATHER])
    assert (seen.calls, seen.ended) == ([], "stop")
    assert seen.text == ("Checking.\n" if stream else "") + "Checking again.\n"
    failures = [e["detail"] for e in tool_log() if e["event"] == "failure"]
    assert len(failures) == 1 and failures[0].startswith("dropped: get_weather:")


@pytest.mark.parametrize("face, stream", ALL)
def test_error_fails_the_answer(make_app, pool, tool_log, face, stream):
    client = make_app(INVALID_TOOL_CALLS="error").test_client()
    pool.script("Checking.\n", GOOD, BAD)
    pool.script(GOOD, BAD)
    seen = ask(client, face, stream, tools=[WEATHER])
    assert seen.calls == [] and seen.error is not None
    if not stream:
        assert seen.status == 502 and seen.headers["x-should-retry"] == "false"
    assert "even after a repair turn" in seen.error["message"]
    assert [e["detail"].split(":")[0] for e in tool_log() if e["event"] == "failure"] == ["refused (502)"]


@pytest.mark.parametrize("face, stream", ALL)
def test_pass_fails_when_no_call_can_be_returned(client, pool, face, stream):
    broken = "<tool_call>\nnot json at all\n</tool_call>"
    pool.script("Checking.\n", broken)
    pool.script(broken)
    seen = ask(client, face, stream, tools=[WEATHER])
    assert seen.error is not None and seen.calls == []
    if not stream:
        assert seen.status == 502 and seen.headers["x-should-retry"] == "false"


@pytest.mark.parametrize("face, stream", ALL)
def test_a_valid_call_goes_with_the_passed_one(client, pool, face, stream):
    pool.script(GOOD, "\n", BAD)
    pool.script(GOOD.replace("Paris", "Rome"), "\n", BAD)
    seen = ask(client, face, stream, tools=[WEATHER])
    assert seen.calls == [("get_weather", {"city": "Rome"}), ("get_weather", {"town": 1})]


@pytest.mark.parametrize("mode", ["pass", "drop", "error"])
def test_the_mode_is_a_setting(make_app, mode):
    assert make_app(INVALID_TOOL_CALLS=mode.upper()).extensions is not None


def test_an_unknown_mode_stops_the_start(make_app):
    with pytest.raises(Exception, match="LINGMA_INVALID_TOOL_CALLS"):
        make_app(INVALID_TOOL_CALLS="ignore")


# -- 3. call markup when no call may be made ---------------------------------------------

MARKUP = [
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
    "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>",
    "<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>",
    "<tool_call>\nnot even json\n</tool_call>",
]


@pytest.mark.parametrize("markup", MARKUP)
@pytest.mark.parametrize("face, stream", ALL)
def test_no_markup_leaks_under_tool_choice_none(client, pool, tool_log, face, stream, markup):
    pool.script("Checking.\n", markup, "\nIt is sunny.")
    seen = ask(client, face, stream, tools=[WEATHER], choice="none")
    assert (seen.text, seen.calls, seen.ended) == ("Checking.\nIt is sunny.", [], "stop")
    assert len(pool.asks) == 1   # nothing to repair: no call may be made
    dropped = [e for e in tool_log() if e["event"] == "dropped"]
    assert len(dropped) == 1 and dropped[0]["detail"].startswith("tool_choice is none")


HISTORY = {
    "chat": [{"role": "assistant", "content": None, "tool_calls": [
                 {"id": "call_1", "type": "function",
                  "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
             {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}],
    "responses": [{"type": "function_call", "call_id": "call_1", "name": "get_weather",
                   "arguments": '{"city": "Paris"}'},
                  {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}],
    "anthropic": [{"role": "assistant", "content": [
                      {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                       "input": {"city": "Paris"}}]},
                  {"role": "user", "content": [
                      {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}],
}


@pytest.mark.parametrize("face, stream", ALL)
def test_no_markup_leaks_with_tool_history_and_no_tools(client, pool, tool_log, face, stream):
    pool.script("It is ", MARKUP[0], "sunny.")
    seen = ask(client, face, stream, history=HISTORY)
    assert (seen.text, seen.calls, seen.ended) == ("It is sunny.", [], "stop")
    assert [e["detail"][:20] for e in tool_log() if e["event"] == "dropped"] == ["no tools are offered"]


@pytest.mark.parametrize("face, stream", ALL)
def test_a_plain_chat_is_not_parsed(client, pool, face, stream):
    pool.script("Write it as <tool_call>{}</tool_call>, like this.")
    seen = ask(client, face, stream)
    assert seen.text == "Write it as <tool_call>{}</tool_call>, like this."


# -- 4. near-contract answers ---------------------------------------------------------------

PERSON = {"type": "object", "additionalProperties": False, "required": ["name", "age"],
          "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                         "admin": {"type": "boolean"}, "height": {"type": "number"},
                         "badge": {"type": "string"}}}
WRAPPED = [
    'Sure! Here it is:\n```json\n{"name": "Ada", "age": 36}\n```',
    'Sure! Here it is:\n```json{"name": "Ada", "age": 36}```',
    'Here is the JSON: {"name": "Ada", "age": 36}',
    '```json\n{"name": "Ada", "age": 36}\n```\nLet me know if you need anything else!',
    '{"name": "Ada", "age": 36}\nThat is all {I know}.',
    "Here: {'name': 'Ada', 'age': 36,} as asked.",
]


@pytest.mark.parametrize("answer", WRAPPED)
@pytest.mark.parametrize("face, stream", ALL)
def test_json_set_in_prose_is_taken(client, pool, face, stream, answer):
    pool.script(answer)
    seen = ask(client, face, stream, schema=PERSON)
    assert json.loads(seen.text) == {"name": "Ada", "age": 36}
    assert len(pool.asks) == 1


@pytest.mark.parametrize("face, stream", ALL)
def test_scalars_are_coerced_toward_the_schema(client, pool, face, stream):
    pool.script('{"name": "Ada", "age": "36", "admin": "true", "height": "1.65", "badge": 5}')
    seen = ask(client, face, stream, schema=PERSON)
    assert json.loads(seen.text) == {"name": "Ada", "age": 36, "admin": True, "height": 1.65,
                                     "badge": "5"}
    assert len(pool.asks) == 1


@pytest.mark.parametrize("face", FACES)
def test_what_coercion_cannot_fix_is_still_repaired(client, pool, face):
    pool.script('{"name": "Ada", "age": "thirty-six"}')
    pool.script('{"name": "Ada", "age": 36}')
    seen = ask(client, face, False, schema=PERSON)
    assert json.loads(seen.text) == {"name": "Ada", "age": 36}
    assert "<json_error>" in pool.asks[1][0] and "thirty-six" in pool.asks[1][0]


@pytest.mark.parametrize("choice", [("named", "get_weather"), "required"])
@pytest.mark.parametrize("face, stream", ALL)
def test_bare_json_is_the_call_of_the_one_forced_tool(client, pool, face, stream, choice):
    pool.script('```json\n{"city": "Paris", "days": "3"}\n```')
    seen = ask(client, face, stream, tools=[WEATHER], choice=choice)
    assert (seen.text, seen.calls, seen.ended) == ("", [("get_weather", {"city": "Paris", "days": 3})],
                                                   "tool_calls")
    assert len(pool.asks) == 1


@pytest.mark.parametrize("face, stream", ALL)
def test_bare_json_that_does_not_fit_the_forced_tool_is_repaired(client, pool, face, stream):
    pool.script('{"town": "Paris"}')
    pool.script(GOOD)
    seen = ask(client, face, stream, tools=[WEATHER], choice=("named", "get_weather"))
    assert seen.calls == [("get_weather", {"city": "Paris"})]
    assert "no function was called" in pool.asks[1][0]


@pytest.mark.parametrize("answer", [
    '```json\n{"name": "get_time", "arguments": {"zone": "CET"}}\n```',
    'Calling it: {"name": "get_time", "arguments": {"zone": "CET"}}',
    '{"type": "function", "function": {"name": "get_time", "arguments": "{\\"zone\\": \\"CET\\"}"}}',
])
@pytest.mark.parametrize("face, stream", ALL)
def test_an_untagged_call_is_taken_under_required(client, pool, face, stream, answer):
    pool.script(answer)
    seen = ask(client, face, stream, tools=[WEATHER, TIME], choice="required")
    assert (seen.text, seen.calls) == ("", [("get_time", {"zone": "CET"})])
    assert len(pool.asks) == 1


@pytest.mark.parametrize("face", FACES)
def test_untagged_json_is_text_when_no_call_is_required(client, pool, face):
    answer = 'Like this: {"name": "get_time", "arguments": {"zone": "CET"}}'
    pool.script(answer)
    seen = ask(client, face, False, tools=[WEATHER, TIME])
    assert (seen.text, seen.calls, seen.ended) == (answer, [], "stop")


@pytest.mark.parametrize("face, stream", ALL)
def test_tagged_call_arguments_are_coerced(client, pool, face, stream):
    pool.script('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": "2"}}\n</tool_call>')
    seen = ask(client, face, stream, tools=[WEATHER])
    assert seen.calls == [("get_weather", {"city": "Paris", "days": 2})]
    assert len(pool.asks) == 1


# -- found on the way: the text held back for a stop string --------------------------------

@pytest.mark.parametrize("stream", STREAMED)
def test_an_answer_with_stop_strings_keeps_its_last_characters(client, pool, stream):
    # the filter holds back len(stop) - 1 characters; the flush released them into a filter
    # that had ended, which dropped them: every answer with `stop` lost its tail
    pool.script("Hello ", "there.")
    body = {"model": "qwen3-coder", "messages": [{"role": "user", "content": "hi"}],
            "stop": ["END", "a much longer stop"], "stream": stream}
    seen = FACES["chat"].read(client.post("/v1/chat/completions", json=body))
    assert (seen.text, seen.ended) == ("Hello there.", "stop")
