"""The simulator's answer logic without a process: prompt contract, schemas, tool and JSON answers."""

from __future__ import annotations

import base64
import json

import pytest

from lingma_flask.lingma.think import ThinkSplitter
from lingma_flask.pipeline.tools import contract
from lingma_flask.pipeline.tools.spec import Tool
from lingma_flask.pipeline.tools.spec import ToolChoice
from lingma_flask.simulator import conversation
from lingma_flask.simulator import images
from lingma_flask.simulator import scenario
from lingma_flask.simulator import schema_fill
from lingma_flask.simulator import toolanswer
from lingma_flask.simulator.config import SimConfig
from lingma_flask.simulator.login import LoginStates
from tests.core.simprompts import WEATHER
from tests.core.simprompts import conversation_prompt
from tests.core.simprompts import tool_response

CONFIG = SimConfig()
def build(prompt: str, **kwargs) -> scenario.Scenario:
    return scenario.build(prompt, CONFIG, **kwargs)


def calls_in(text: str) -> list:
    """The JSON bodies of the complete <tool_call> blocks in an answer."""
    out = []
    for part in text.split("<tool_call>\n")[1:]:
        body, closed, _ = part.partition("\n</tool_call>")
        assert closed, "unclosed block"
        out.append(json.loads(body.removeprefix("```json\n").removesuffix("\n```")))
    return out


# the prompt contract ---------------------------------------------------------------------
@pytest.mark.parametrize("prompt, turn", [
    ("just one message", "just one message"),
    ("  padded \n", "padded"),
    ("System instructions:\nsys\n\nUser:\nfirst\n\nAssistant:\nok\n\nUser:\nsecond\nline\n\nAssistant:",
     "second\nline"),
    ("User:\nnot a turn without the blank line", "User:\nnot a turn without the blank line"),
    ("System instructions:\nx\n\nUser:\n<tool_response>\n{}\n</tool_response>\n\nAssistant:",
     "<tool_response>\n{}\n</tool_response>"),
])
def test_last_user_turn(prompt, turn):
    assert conversation.last_user_turn(prompt) == turn


def test_cap_cuts_at_200_characters_with_an_ellipsis():
    assert conversation.cap("é" * 200) == "é" * 200
    assert conversation.cap("你" * 201) == "你" * 200 + "…"


@pytest.mark.parametrize("turn, expect", [
    (tool_response("file body"), True),
    (tool_response("a") + "\n" + tool_response("b"), True),
    ("please read " + tool_response("a"), False),
    ("<tool_call_error>\nx\n</tool_call_error>", False),
])
def test_tool_result_turns_are_recognised(turn, expect):
    assert conversation.is_tool_results(turn) is expect


def test_offered_tools_and_response_schema_are_read():
    prompt = conversation_prompt(("User", "hi"), schema={"type": "object"})
    assert [t["name"] for t in conversation.offered_tools(prompt)] == ["read_file", "now"]
    assert conversation.response_schema(prompt) == {"type": "object"}
    assert conversation.offered_tools("no tools") == [] and conversation.response_schema("x") is None
    assert conversation.response_schema("<response_schema>{broken</response_schema>") == {}


# default answer and chunking ---------------------------------------------------------------
def test_default_answer_echoes_the_last_user_turn_capped_in_five_chunks():
    prompt = conversation_prompt(("User", "old"), ("Assistant", "fine"), ("User", "new [[sim:ttft=0]] " + "x" * 300))
    s = build(prompt)
    assert s.answer == "You said: new  " + "x" * 195 + "…"
    assert len(s.chunks) == 5 and "".join(s.chunks) == s.answer


def test_single_message_echo_is_unchanged_and_short():
    s = build("Hello [[sim:ttft=0.01]] 世界")
    assert s.answer == "You said: Hello  世界" and len(s.chunks) == 5


@pytest.mark.parametrize("marker, expect_chunks", [
    ("[[sim:chunk=3]]", 5),
    ("[[sim:chunks=2]]", 2),
])
def test_explicit_chunk_markers_win(marker, expect_chunks):
    assert len(build("abcde " + marker).chunks) == expect_chunks  # "You said: abcde" is 15 chars


def test_echo_full_and_len_keep_the_long_answers_in_four_character_chunks():
    prompt = conversation_prompt(("User", "q [[sim:echo=full]]"))
    s = build(prompt)
    assert s.answer == "You said: " + prompt.replace("[[sim:echo=full]]", "")
    assert {len(c) for c in s.chunks[:-1]} == {4}
    full_env = scenario.build(prompt.replace("[[sim:echo=full]]", ""), SimConfig(echo="full"))
    assert full_env.answer.startswith("You said: System instructions:")
    assert len(build("[[sim:len=4000]]").chunks) == 1000
    assert scenario.build("hello", SimConfig(chunk_chars=3)).chunks[0] == "You"


# tool calls --------------------------------------------------------------------------------
def test_tool_marker_calls_the_first_tool_with_synthesized_arguments():
    s = build(conversation_prompt(("User", "read it [[sim:tool]]")))
    assert s.answer.startswith("Let me use read_file.\n<tool_call>\n")
    assert calls_in(s.answer) == [{"name": "read_file",
                                   "arguments": {"path": "sim", "limit": 1, "mode": "r"}}]
    assert {len(c) for c in s.chunks[:-1]} == {7} and "".join(s.chunks) == s.answer
    assert not any("<tool_call>" in c or "</tool_call>" in c for c in s.chunks), "tags are cut"


def test_the_gateways_own_tools_section_is_read():
    tool = Tool("get_weather", "Weather", {"type": "object", "properties": {
        "city": {"type": "string"}}, "required": ["city"]})
    section = contract.tools_section([tool], ToolChoice.auto(), True)
    assert "<tools></tools>" in section   # the prose mentions the tags before the block
    prompt = "System instructions:\n" + section + "\n\nUser:\nweather? [[sim:tool]]\n\nAssistant:"
    assert [t["name"] for t in conversation.offered_tools(prompt)] == ["get_weather"]
    assert calls_in(build(prompt).answer) == [{"name": "get_weather", "arguments": {"city": "sim"}}]


@pytest.mark.parametrize("choice", [ToolChoice.required(), ToolChoice.named("get_weather")])
def test_a_tool_choice_that_demands_a_call_gets_one_without_a_marker(choice):
    tool = Tool("get_weather", "Weather", {"type": "object", "properties": {
        "city": {"type": "string"}}, "required": ["city"]})
    section = contract.tools_section([tool], choice, True)
    prompt = "System instructions:\n" + section + "\n\nUser:\nweather?\n\nAssistant:"
    assert conversation.call_required(prompt)
    assert calls_in(build(prompt).answer) == [{"name": "get_weather", "arguments": {"city": "sim"}}]
    after = prompt.replace("weather?", tool_response("sunny"))
    assert calls_in(build(after).answer)[0]["name"] == "get_weather"   # still a must
    auto = "System instructions:\n" + contract.tools_section([tool], ToolChoice.auto(), True)
    assert not conversation.call_required(auto + "\n\nUser:\nYou must call the function x.")


def test_named_tool_several_calls_given_arguments_and_prose():
    args = base64.urlsafe_b64encode(json.dumps({"path": "中.py"}).encode()).decode().rstrip("=")
    s = build(conversation_prompt(("User", f"[[sim:tool=read_file,tools=3,tool_args={args}]] "
                                           "[[sim:tool_text=Reading_now]]")))
    assert s.answer.startswith("Reading now\n<tool_call>")
    assert calls_in(s.answer) == [{"name": "read_file", "arguments": {"path": "中.py"}}] * 3
    bare = build(conversation_prompt(("User", "[[sim:tool=now,tool_text=]]")))
    assert bare.answer == '<tool_call>\n{"name": "now", "arguments": {}}\n</tool_call>'


def test_xml_and_fence_forms():
    xml = build(conversation_prompt(("User", "[[sim:tool,tool_form=xml,tool_text=]]"))).answer
    assert xml == ("<tool_call>\n<function=read_file>\n<parameter=path>\nsim\n</parameter>\n"
                   "<parameter=limit>\n1\n</parameter>\n<parameter=mode>\nr\n</parameter>\n"
                   "</function>\n</tool_call>")
    fence = build(conversation_prompt(("User", "[[sim:tool,tool_form=fence]]"))).answer
    assert "<tool_call>\n```json\n{" in fence and fence.endswith("}\n```\n</tool_call>")
    assert calls_in(fence)[0]["name"] == "read_file"


def test_invalid_arguments_until_the_repair_turn():
    first = conversation_prompt(("User", "go [[sim:tool,tool_invalid]]"))
    assert calls_in(build(first).answer)[0]["arguments"] == {"limit": 1, "mode": "r"}
    repair = conversation_prompt(
        ("User", "go [[sim:tool,tool_invalid]]"), ("Assistant", build(first).answer),
        ("User", "<tool_call_error>\nread_file: 'path' is a required property\n</tool_call_error>\n"
                 "Answer again."))
    assert calls_in(build(repair).answer)[0]["arguments"]["path"] == "sim"
    always = build(repair.replace("tool_invalid", "tool_invalid=always")).answer
    assert "path" not in calls_in(always)[0]["arguments"]
    no_required = build(conversation_prompt(("User", "[[sim:tool=now,tool_invalid]]"))).answer
    assert calls_in(no_required)[0]["arguments"] == "sim"


def test_unclosed_call_never_closes():
    s = build(conversation_prompt(("User", "[[sim:tool,tools=2,tool_unclosed]]")))
    assert s.answer.count("<tool_call>") == 2 and s.answer.count("</tool_call>") == 1
    assert s.answer.endswith('"mode": "r"}}')


def test_tool_results_get_a_text_answer_even_with_the_marker_still_in_history():
    prompt = conversation_prompt(
        ("User", "read it [[sim:tool]]"),
        ("Assistant", '<tool_call>\n{"name": "read_file", "arguments": {}}\n</tool_call>'),
        ("User", tool_response("line1\n" + "z" * 300) + "\n" + tool_response("second")))
    s = build(prompt)
    assert s.answer == "Tool result: " + ("line1\n" + "z" * 300)[:200] + "…"
    raw = "<tool_response>\nnot json\n</tool_response>"
    assert build(conversation_prompt(("User", raw))).answer == "Tool result: not json"


def test_no_call_without_tools_or_marker():
    assert build(conversation_prompt(("User", "hi"))).answer == "You said: hi"
    assert build("hi [[sim:tool]]").answer == "You said: hi"


# structured output ---------------------------------------------------------------------------
def test_schema_synthesis():
    assert schema_fill.synthesize(WEATHER) == {
        "city": "sim", "days": 3, "unit": "C", "alerts": [{"level": "high", "ok": True}], "where": 1.5}
    assert schema_fill.synthesize({"type": "object", "required": ["o"],
                                   "properties": {"o": {"type": "object"}}}) == {"o": {}}


def test_structured_output_answers():
    s = build(conversation_prompt(("User", "weather?"), tools=(), schema=WEATHER))
    assert json.loads(s.answer) == schema_fill.synthesize(WEATHER) and len(s.chunks) == 5
    empty = build(conversation_prompt(("User", "free form"), tools=(), schema={}))
    assert json.loads(empty.answer) == {"answer": "free form"}
    fenced = build(conversation_prompt(("User", "[[sim:json_fence]] q"), tools=(), schema=WEATHER)).answer
    assert fenced.startswith("```json\n{") and fenced.endswith("}\n```")


def test_invalid_json_until_the_json_error_turn():
    first = conversation_prompt(("User", "[[sim:json_invalid]] q"), tools=(), schema=WEATHER)
    assert "city" not in json.loads(build(first).answer)
    repair = conversation_prompt(("User", "[[sim:json_invalid]] q"), ("Assistant", "{}"),
                                 ("User", "<json_error>\n'city' is required\n</json_error>\nAgain."),
                                 tools=(), schema=WEATHER)
    assert json.loads(build(repair).answer)["city"] == "sim"
    not_json = build(conversation_prompt(("User", "[[sim:json_invalid]]"), tools=(), schema={})).answer
    with pytest.raises(ValueError):
        json.loads(not_json)


# reasoning -------------------------------------------------------------------------------------
def test_think_modes():
    thinking = "dashscope_qwen_plus_20250428_thinking"
    assert build("q", model=thinking).think == "push"
    assert build("q [[sim:think=off]]", model=thinking).think == "off"
    assert build("q").think == "off" and build("q [[sim:think]]").think == "push"
    assert build("q", model=thinking).reasoning == "Thinking about: q"


@pytest.mark.parametrize("chunks", [1, 3, 5, 9])
def test_think_fence_is_split_off_by_the_gateway_splitter(chunks):
    s = build(f"ponder [[sim:think=fence,chunks={chunks}]]")
    splitter = ThinkSplitter()
    answer = "".join(splitter.feed(c) for c in s.chunks) + splitter.flush()
    assert (answer, splitter.reasoning) == ("You said: ponder", "Thinking about: ponder")
    assert s.answer.startswith("\n```think::{THINK_TIME}\n")


# images and login ------------------------------------------------------------------------------
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(64))).decode()


@pytest.mark.parametrize("uri, code", [
    ("data:image/png;base64," + PNG, ""),
    ("data:image/jpeg;base64," + PNG, ""),
    ("https://example.com/a.png", "INVALID_IMAGE"),
    ("data:text/plain;base64," + PNG, "INVALID_IMAGE"),
    ("data:image/png;base64,@@not base64@@", "INVALID_IMAGE"),
    ("data:image/png;base64,", "INVALID_IMAGE"),
    (None, "INVALID_IMAGE"),
    ("data:image/png;base64," + base64.b64encode(bytes(2000)).decode(), "IMAGE_TOO_LARGE"),
])
def test_image_upload_checks(uri, code):
    result = images.upload(uri, mode="ok", max_bytes=1000, logged_in=True)
    assert result.error_code == code and result.success is (not code)
    if result.success:
        assert result.url.startswith("https://sim.invalid/img/") and result.url.endswith(".png")
        assert result.reply("r1") == {"requestId": "r1", "result": {"success": True}}
    else:
        assert result.reply("r1")["result"] == {"success": False} and result.reply("r1")["errorMessage"]


def test_image_upload_fail_mode_and_logged_out():
    uri = "data:image/png;base64," + PNG
    assert images.upload(uri, mode="fail", max_bytes=1000, logged_in=True).error_code == "UPLOAD_FAILED"
    assert images.upload(uri, mode="ok", max_bytes=1000, logged_in=False).error_code == "NOT_LOGGED_IN"


def test_login_states_complete_once():
    states = LoginStates()
    url = states.generate_url(4242)["loginUrl"]
    state = url.split("state=")[1].split("&")[0]
    assert states.pending() == 1 and not states.complete("other")
    assert states.complete(state) and not states.complete(state) and states.pending() == 0


def test_tool_argument_decoding_tolerates_padding_and_rejects_non_objects():
    good = base64.urlsafe_b64encode(b'{"a": 1}').decode()
    assert toolanswer.given_arguments(good) == toolanswer.given_arguments(good.rstrip("=")) == {"a": 1}
    assert toolanswer.given_arguments(base64.urlsafe_b64encode(b"[1]").decode()) is None
    assert toolanswer.given_arguments("***") is None


def test_the_answer_marker_gives_the_exact_text_spaces_and_all():
    text = "```json\n" + " " * 500 + "{\"a\": 1}\n```"
    b64 = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    s = build(conversation_prompt(("User", f"[[sim:answer={b64},len=5]] hello")))
    assert s.answer == text
    broken = build(conversation_prompt(("User", "[[sim:answer=%%%]] hello")))
    assert broken.answer == "You said: hello"
