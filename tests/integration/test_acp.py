"""Every face against the simulator in ACP mode (LINGMA_SIM_PROTOCOL=acp; the gateway detects it).

Real gunicorn + gevent + the simulator speaking the desktop's ACP-style API: chat (plain and
streamed, through the openai SDK), Responses, Anthropic Messages, a tool call, reasoning, a
client disconnect that must reach the simulator as `session/cancel`, and fault cells (crash
mid-stream, stall, logout).
"""

import json
import urllib.request

import anthropic
import openai
import pytest
import requests

from lingma_flask.lingma.instance import wait_until
from tests.integration.gateway import API_KEY
from tests.integration.gateway import Gateway

pytestmark = pytest.mark.integration
THINKING = "dashscope_qwen_plus_20250428_thinking"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def ask(text):
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """A gateway whose Lingma is the simulator speaking ACP (LINGMA_PROTOCOL left at auto)."""
    gw = Gateway(tmp_path_factory.mktemp("acp") / "work", LINGMA_SIM_PROTOCOL="acp",
                 LINGMA_FIRST_TOKEN_TIMEOUT="2", LINGMA_PROBE_INTERVAL="1").start()
    yield gw
    gw.stop()


def sim(gateway, path):
    """GET a control URL of the gateway's simulator."""
    with urllib.request.urlopen(f"http://127.0.0.1:{gateway._http_port(0)}{path}", timeout=5) as resp:
        return json.loads(resp.read())


def asked(gateway, words):
    """The simulator's record of the ask whose prompt holds `words`."""
    return next(a for a in gateway.sim_state()["asks"] if words in a["questionText"])


def test_the_gateway_chose_acp(gateway):
    instance = gateway.health()[1]["instances"][0]
    assert instance["protocol"] == "acp" and instance["state"] == "ready"
    assert any("protocol acp (initialize answered protocolVersion 1)" in line for line in gateway.lines)


def test_chat_plain_and_streamed(gateway, client):
    answer = client.chat.completions.create(model="auto", messages=ask("plain acp"))
    assert answer.choices[0].message.content == "You said: plain acp"
    assert answer.choices[0].finish_reason == "stop"
    chunks = list(client.chat.completions.create(model="auto", stream=True, messages=ask("streamed acp")))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "You said: streamed acp"
    record = asked(gateway, "streamed acp")
    assert record["protocol"] == "acp" and record["model"] == "auto"


def test_responses_create_and_stream(client):
    response = client.responses.create(model="auto", input="responses acp")
    assert response.output_text == "You said: responses acp"
    with client.responses.stream(model="auto", input="responses stream acp") as stream:
        final = stream.get_final_response()
    assert final.output_text == "You said: responses stream acp" and final.status == "completed"


def test_anthropic_messages(gateway):
    with anthropic.Anthropic(base_url=gateway.url, api_key=API_KEY, max_retries=0, timeout=60) as claude:
        message = claude.messages.create(model="claude-opus-5-5", max_tokens=500, messages=ask("claude acp"))
        assert message.content[0].text == "You said: claude acp"
        with claude.messages.stream(model=THINKING, max_tokens=4000, messages=ask("why acp"),
                                    thinking={"type": "adaptive"}) as stream:
            final = stream.get_final_message()
    thinking, text = final.content
    assert thinking.thinking == "Thinking about: why acp" and text.text == "You said: why acp"


def test_a_tool_call(client):
    answer = client.chat.completions.create(model="auto", tools=[TOOL],
                                            messages=ask("weather in Paris? [[sim:tool]]"))
    call = answer.choices[0].message.tool_calls[0]
    assert answer.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "sim"}


def test_reasoning_content(client):
    chunks = list(client.chat.completions.create(model=THINKING, stream=True, messages=ask("think acp")))
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert reasoning == "Thinking about: think acp" and text == "You said: think acp"


def test_updates_sent_as_requests_are_acked(gateway, client):
    answer = client.chat.completions.create(model="auto", messages=ask("acked acp [[sim:updates=request]]"))
    assert answer.choices[0].message.content == "You said: acked acp"
    assert wait_until(lambda: gateway.sim_state()["acks"]["missing"] == 0, 5)


def test_a_client_disconnect_sends_session_cancel(gateway):
    resp = requests.post(gateway.url + "/v1/chat/completions", timeout=30, headers=AUTH, stream=True, json={
        "model": "auto", "stream": True, "messages": ask("walk away acp [[sim:len=100000]] [[sim:delay=0.05]]")})
    lines = resp.iter_lines(decode_unicode=True)
    assert any('"content":"' in line and '"content":""' not in line for line in lines)
    resp.close()
    record = asked(gateway, "walk away acp")
    assert wait_until(lambda: record["sessionId"] in gateway.sim_state()["acp"]["cancels"], 10)
    assert record["requestId"] in gateway.sim_state()["stops"]
    assert wait_until(lambda: gateway.health()[1]["in_flight"] == 0, 10)
    assert wait_until(lambda: gateway.sim_state()["acp"]["sessions"] == 0, 10)   # deleted too


def test_a_stall_times_out_and_cancels(gateway, client):
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="auto", messages=ask("stalled acp [[sim:stall]]"))
    assert info.value.status_code == 504 and info.value.body["code"] == "lingma_timeout"
    record = asked(gateway, "stalled acp")
    assert wait_until(lambda: record["sessionId"] in gateway.sim_state()["acp"]["cancels"], 10)


@pytest.mark.parametrize("marker, status, code", [
    ("finish=429", 429, "rate_limit_exceeded"), ("finish=403", 429, "insufficient_quota"),
    ("finish=406", 400, "content_filter"), ("reply=error", 502, "lingma_upstream_error"),
])
def test_finish_errors(client, marker, status, code):
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="auto", messages=ask(f"x [[sim:{marker}]]"))
    assert info.value.status_code == status and info.value.body["code"] == code


def test_a_crash_mid_stream_then_lingma_comes_back(gateway, client):
    pids = gateway.lingma_pids()
    with pytest.raises(openai.APIError) as info:
        for _ in client.chat.completions.create(model="auto", stream=True,
                                                messages=ask("crash acp [[sim:crash]] [[sim:len=500]]")):
            pass
    assert "Lingma" in str(info.value)
    assert wait_until(lambda: gateway.ready() and gateway.lingma_pids() != pids, 30)
    assert gateway.health()[1]["instances"][0]["protocol"] == "acp"
    assert client.chat.completions.create(model="auto", messages=ask("alive acp")).choices[0].message.content \
        == "You said: alive acp"


def test_a_logout_is_503_until_the_login_comes_back(gateway, client):
    sim(gateway, "/sim/logout")
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="auto", messages=ask("logged out acp"))
    assert info.value.status_code == 503 and info.value.body["code"] == "lingma_not_logged_in"
    sim(gateway, "/sim/login")
    assert wait_until(gateway.ready, 20)
    assert client.chat.completions.create(model="auto", messages=ask("back acp")).choices[0].message.content \
        == "You said: back acp"
