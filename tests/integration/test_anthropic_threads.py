"""The anthropic SDK's tool runner over message threads, against gunicorn + gevent + the simulator."""

import json

import anthropic
import httpx2
import pytest
from anthropic import beta_tool

from tests.integration.gateway import API_KEY

pytestmark = pytest.mark.integration
CLAUDE = "claude-opus-5-5"


@beta_tool
def get_weather(city: str) -> str:
    """Get the weather of a city."""
    return f"sunny in {city}"


@pytest.fixture
def sent():
    return []


@pytest.fixture
def claude(gateway, sent):
    """The SDK pointed at the gateway; `sent` collects the bodies of its requests."""
    def hook(request):
        sent.append(json.loads(request.content))
    http = httpx2.Client(event_hooks={"request": [hook]}, timeout=60)
    with anthropic.Anthropic(base_url=gateway.url, api_key=API_KEY, max_retries=0,
                             http_client=http) as client:
        yield client


def runner(claude, question, **kwargs):
    return claude.beta.messages.tool_runner(
        model=CLAUDE, max_tokens=1000, system="Be brief.", tools=[get_weather],
        messages=[{"role": "user", "content": question}], **kwargs)


@pytest.mark.parametrize("stream", [False, True])
def test_the_tool_runner_finishes_over_a_thread(gateway, claude, sent, stream):
    final = runner(claude, "Weather in Paris? [[sim:tool]]", stream=stream).until_done()
    assert [b.text for b in final.content if b.type == "text"] == ["Tool result: sunny in sim"]
    assert [body["thread"]["type"] for body in sent] == ["create", "continue"]
    assert "tools" not in sent[1] and "system" not in sent[1]
    assert [b["type"] for b in sent[1]["messages"][0]["content"]] == ["tool_result"]
    # Lingma was asked the whole conversation: system, tools, question, call and result
    prompt = gateway.sim_state()["asks"][-1]["questionText"]
    for part in ("Be brief.", "<tools>", "Weather in Paris?", "<tool_call>", "sunny in sim"):
        assert part in prompt


def test_each_continued_turn_still_offers_the_tools(claude, sent):
    # `any` makes every turn a call: without the thread's tools a continue could not call one
    turns = list(runner(claude, "Weather everywhere?", tool_choice={"type": "any"},
                        max_iterations=3))
    assert len(turns) == 3
    for message in turns:
        assert message.stop_reason == "tool_use"
        [use] = [b for b in message.content if b.type == "tool_use"]
        assert use.name == "get_weather" and use.input == {"city": "sim"}
        assert all("<tool_call>" not in b.text for b in message.content if b.type == "text")
    assert [body["thread"]["type"] for body in sent] == ["create", "continue", "continue"]


def test_an_unknown_thread_is_the_404_the_sdk_replays_on(claude):
    with pytest.raises(anthropic.NotFoundError) as info:
        claude.beta.messages.create(
            model=CLAUDE, max_tokens=100, messages=[{"role": "user", "content": "hi"}],
            thread={"type": "continue", "previous_message_id": "msg_gone"},
            betas=["message-threads-2026-08-12"])
    assert info.value.error_code == "thread_not_found" and info.value.type == "not_found_error"
