"""The prompt renderer, fed through the chat face's parser: exact expected strings."""

import pytest

from lingma_flask.api.chat_request import parse_chat_request
from lingma_flask.pipeline.job import prompt_sections
from lingma_flask.pipeline.prompt import render_prompt


def prompt(messages, **fields):
    chat, _ = parse_chat_request({"messages": messages, **fields})
    return render_prompt(chat.turns, prompt_sections(chat))


def user(content):
    return {"role": "user", "content": content}


def test_single_user_message_is_sent_as_is():
    assert prompt([user("Write a haiku\nabout rust")]) == "Write a haiku\nabout rust"


def test_single_user_message_with_parts_joins_text():
    parts = [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]
    assert prompt([user(parts)]) == "one\ntwo"


def test_system_and_user():
    messages = [{"role": "system", "content": "Be terse."}, user("Hi")]
    assert prompt(messages) == "System instructions:\nBe terse.\n\nUser:\nHi\n\nAssistant:"


def test_system_and_developer_go_first_in_order():
    messages = [
        user("Q1"),
        {"role": "developer", "content": "Dev rule."},
        {"role": "assistant", "content": "A1"},
        {"role": "system", "content": [{"type": "text", "text": "Sys rule."}]},
        user("Q2"),
    ]
    assert prompt(messages) == (
        "System instructions:\nDev rule.\n\nSys rule.\n\n"
        "User:\nQ1\n\n"
        "Assistant:\nA1\n\n"
        "User:\nQ2\n\n"
        "Assistant:"
    )


def test_tool_calls_and_results_use_the_qwen_blocks_in_order():
    messages = [
        user("Read app.py"),
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "read_file", "arguments": '{"path":"app.py"}'}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "print('hi')"},
        {"role": "tool", "tool_call_id": "call_9", "name": "grep", "content": "none"},
        user("Thanks"),
    ]
    assert prompt(messages) == (
        "User:\nRead app.py\n\n"
        'Assistant:\n<tool_call>\n{"name": "read_file", "arguments": {"path": "app.py"}}\n</tool_call>\n\n'
        'User:\n<tool_response>\n{"name": "read_file", "call_id": "call_1", "content": "print(\'hi\')"}\n'
        '</tool_response>\n<tool_response>\n{"name": "grep", "call_id": "call_9", "content": "none"}\n'
        "</tool_response>\n\n"
        "User:\nThanks\n\n"
        "Assistant:"
    )


def test_deprecated_function_call_and_function_role_render_like_tools():
    messages = [
        user("Weather?"),
        {"role": "assistant", "content": None,
         "function_call": {"name": "weather", "arguments": '{"city": "Paris"}'}},
        {"role": "function", "name": "weather", "content": "sunny"},
    ]
    assert prompt(messages) == (
        "User:\nWeather?\n\n"
        'Assistant:\n<tool_call>\n{"name": "weather", "arguments": {"city": "Paris"}}\n</tool_call>\n\n'
        'User:\n<tool_response>\n{"name": "weather", "content": "sunny"}\n</tool_response>\n\n'
        "Assistant:"
    )


def test_offered_tools_join_the_system_block():
    tools = [{"type": "function", "function": {"name": "ls", "description": "List",
                                               "parameters": {"type": "object"}}}]
    text = prompt([user("hi")], tools=tools, tool_choice="required")
    assert text.startswith("System instructions:\n# Tools\n")
    assert '{"type": "function", "function": {"name": "ls", "description": "List"' in text
    assert "You must call at least one function." in text
    assert text.endswith("User:\nhi\n\nAssistant:")
    assert prompt([user("hi")], tools=tools, tool_choice="none") == "hi"


def test_only_an_assistant_message_still_gets_the_cue():
    assert prompt([{"role": "assistant", "content": "x"}]) == "Assistant:\nx\n\nAssistant:"


@pytest.mark.parametrize("content, text", [
    (None, ""),
    ("plain", "plain"),
    ([], ""),
    ([{"type": "text", "text": "a"}, {"type": "refusal", "refusal": "no"}, {"type": "text", "text": "b"}],
     "a\nno\nb"),
])
def test_content_text(content, text):
    rendered = prompt([{"role": "system", "content": "s"}, user(content)])
    assert rendered == "System instructions:\ns\n\nUser:\n" + text + "\n\nAssistant:"


def test_rendering_is_deterministic():
    messages = [{"role": "system", "content": "s"}, user("u"), {"role": "assistant", "content": "a"}]
    assert prompt(messages) == prompt([dict(m) for m in messages])
