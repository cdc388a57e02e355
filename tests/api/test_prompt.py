"""The prompt renderer: exact expected strings."""

import pytest

from lingma_flask.api.prompt import content_text
from lingma_flask.api.prompt import message_text
from lingma_flask.api.prompt import render_prompt


def user(content):
    return {"role": "user", "content": content}


def test_single_user_message_is_sent_as_is():
    assert render_prompt([user("Write a haiku\nabout rust")]) == "Write a haiku\nabout rust"


def test_single_user_message_with_parts_joins_text():
    parts = [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]
    assert render_prompt([user(parts)]) == "one\ntwo"


def test_system_and_user():
    messages = [{"role": "system", "content": "Be terse."}, user("Hi")]
    assert render_prompt(messages) == (
        "System instructions:\nBe terse.\n\n"
        "User:\nHi\n\n"
        "Assistant:"
    )


def test_system_and_developer_go_first_in_order():
    messages = [
        user("Q1"),
        {"role": "developer", "content": "Dev rule."},
        {"role": "assistant", "content": "A1"},
        {"role": "system", "content": [{"type": "text", "text": "Sys rule."}]},
        user("Q2"),
    ]
    assert render_prompt(messages) == (
        "System instructions:\nDev rule.\n\nSys rule.\n\n"
        "User:\nQ1\n\n"
        "Assistant:\nA1\n\n"
        "User:\nQ2\n\n"
        "Assistant:"
    )


def test_tool_calls_and_results():
    messages = [
        user("Read app.py"),
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "read_file", "arguments": '{"path":"app.py"}'}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "print('hi')"},
        {"role": "tool", "tool_call_id": "call_9", "name": "grep", "content": "none"},
        {"role": "tool", "content": "orphan"},
    ]
    assert render_prompt(messages) == (
        "User:\nRead app.py\n\n"
        "Assistant:\nCalled tool read_file (call_1) with arguments: {\"path\":\"app.py\"}\n\n"
        "Tool result (read_file/call_1):\nprint('hi')\n\n"
        "Tool result (grep/call_9):\nnone\n\n"
        "Tool result:\norphan\n\n"
        "Assistant:"
    )


def test_assistant_with_text_and_tool_call():
    message = {"role": "assistant", "content": "Let me look.", "tool_calls": [
        {"id": "c", "function": {"name": "ls", "arguments": "{}"}}]}
    assert message_text(message) == "Let me look.\nCalled tool ls (c) with arguments: {}"


def test_only_an_assistant_message_still_gets_the_cue():
    assert render_prompt([{"role": "assistant", "content": "x"}]) == "Assistant:\nx\n\nAssistant:"


@pytest.mark.parametrize("content, text", [
    (None, ""),
    ("plain", "plain"),
    ([], ""),
    ([{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}], "a\nb"),
])
def test_content_text(content, text):
    assert content_text(content) == text


def test_rendering_is_deterministic():
    messages = [{"role": "system", "content": "s"}, user("u"), {"role": "assistant", "content": "a"}]
    assert render_prompt(messages) == render_prompt([dict(m) for m in messages])
