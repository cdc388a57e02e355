"""The official anthropic SDK against real gunicorn + gevent + the simulator: /v1/messages as used."""

import base64
import json

import anthropic
import pytest
import requests

from lingma_flask.lingma.instance import wait_until
from tests.api.anthropic_stream import check_grammar
from tests.api.anthropic_stream import parse
from tests.integration.gateway import API_KEY

pytestmark = pytest.mark.integration
CLAUDE = "claude-opus-5-5"
THINKING = "dashscope_qwen_plus_20250428_thinking"
HEADERS = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01",
           "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14"}
READ = {"name": "Read", "description": "Read a file.",
        "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}},
                         "required": ["file_path"]}}
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")).decode()


def ask(text):
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def claude(gateway):
    """The official anthropic SDK pointed at the gateway, without retries so statuses show."""
    with anthropic.Anthropic(base_url=gateway.url, api_key=API_KEY, max_retries=0,
                             timeout=60) as client:
        yield client


def raw_stream(gateway, payload, **kwargs):
    """POST a streamed message with plain requests (as Claude Code does, with ?beta=true)."""
    return requests.post(gateway.url + "/v1/messages?beta=true", headers=HEADERS, stream=True,
                         timeout=30, json={"model": CLAUDE, "max_tokens": 4096, "stream": True,
                                           **payload}, **kwargs)


def test_create_has_the_exact_shape(claude):
    raw = claude.messages.with_raw_response.create(model=CLAUDE, max_tokens=1000,
                                                   messages=ask("hello"))
    message = raw.parse()
    assert message.id.startswith("msg_") and message.type == "message"
    assert message.model == CLAUDE and message.role == "assistant"
    assert [(b.type, b.text) for b in message.content] == [("text", "You said: hello")]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert raw.headers["x-lingma-model"] == "auto" and raw.headers["x-lingma-usage"] == "estimated"


def test_stream_helper_and_raw_events(gateway, claude):
    with claude.messages.stream(model=CLAUDE, max_tokens=1000,
                                messages=ask("stream me [[sim:chunks=8]]")) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) >= 2 and "".join(pieces) == "You said: stream me"
    assert final.content[0].text == "You said: stream me" and final.stop_reason == "end_turn"
    resp = raw_stream(gateway, {"messages": ask("raw [[sim:chunks=4]]")})
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = parse(resp.text)
    check_grammar(events)
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
    assert events[-2][1]["usage"]["output_tokens"] > 0


def test_thinking_on_the_reasoning_model(claude):
    with claude.messages.stream(model=THINKING, max_tokens=4000, messages=ask("why sky blue"),
                                thinking={"type": "adaptive"}) as stream:
        final = stream.get_final_message()
    thinking, text = final.content
    assert thinking.type == "thinking" and thinking.thinking == "Thinking about: why sky blue"
    assert thinking.signature
    assert text.text == "You said: why sky blue"


def test_a_tool_call_and_its_result(claude):
    with claude.messages.stream(model=CLAUDE, max_tokens=1000, tools=[READ],
                                messages=ask("read it [[sim:tool]]")) as stream:
        final = stream.get_final_message()
    text, call = final.content
    assert text.text == "Let me use Read.\n"
    assert call.type == "tool_use" and call.id.startswith("toolu_")
    assert call.name == "Read" and call.input == {"file_path": "sim"}
    assert final.stop_reason == "tool_use"
    history = ask("read it") + [
        {"role": "assistant", "content": final.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                      "content": "file body"}]}]
    second = claude.messages.create(model=CLAUDE, max_tokens=1000, tools=[READ], messages=history)
    assert second.content[0].text == "Tool result: file body"


def test_an_image_reaches_the_vision_model(gateway, claude):
    content = [{"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                            "data": PNG}},
               {"type": "text", "text": "what is this"}]
    message = claude.messages.create(model="dashscope_qwen_vl_max", max_tokens=1000,
                                     messages=[{"role": "user", "content": content}])
    assert message.content[0].text == "You said: what is this [1 image(s)]"
    assert any(u["success"] for u in gateway.sim_state()["uploads"])
    with pytest.raises(anthropic.BadRequestError, match="does not accept images"):
        claude.messages.create(model=CLAUDE, max_tokens=100,
                               messages=[{"role": "user", "content": content}])


def test_count_tokens_matches_the_usage(claude):
    kwargs = {"model": CLAUDE, "system": "Be brief.", "tools": [READ],
              "messages": ask("count me")}
    counted = claude.messages.count_tokens(**kwargs).input_tokens
    message = claude.messages.create(max_tokens=100, **kwargs)
    assert counted == message.usage.input_tokens > 0


def test_ping_before_a_slow_first_token(gateway):
    resp = raw_stream(gateway, {"messages": ask("slow start [[sim:ttft=1.8]]")})
    events = parse(resp.text)
    check_grammar(events)
    first_block = next(i for i, (name, _) in enumerate(events) if name == "content_block_start")
    assert events[0][0] == "message_start"
    assert sum(1 for name, _ in events[:first_block] if name == "ping") >= 2


def test_disconnect_mid_stream_stops_lingma(gateway):
    resp = raw_stream(gateway, {"messages": ask("walk away [[sim:len=100000]] [[sim:delay=0.05]]")})
    lines = resp.iter_lines(decode_unicode=True)
    assert any(line.startswith("data:") and "text_delta" in line for line in lines)
    resp.close()
    asks = gateway.sim_state()["asks"]
    ask_id = next(a["requestId"] for a in asks if "walk away" in a["questionText"])
    assert wait_until(lambda: ask_id in gateway.sim_state()["stops"], 10)
    assert wait_until(lambda: gateway.health()[1]["in_flight"] == 0, 10)


@pytest.mark.parametrize("marker, error_type, status, kind", [
    ("finish=429", anthropic.RateLimitError, 429, "rate_limit_error"),
    ("finish=500", anthropic.InternalServerError, 502, "api_error"),
    ("finish=406", anthropic.BadRequestError, 400, "invalid_request_error"),
    ("stall", anthropic.InternalServerError, 504, "timeout_error"),
])
def test_lingma_failures_use_the_anthropic_envelope(claude, marker, error_type, status, kind):
    with pytest.raises(error_type) as info:
        claude.messages.create(model=CLAUDE, max_tokens=100, messages=ask(f"x [[sim:{marker}]]"))
    assert info.value.status_code == status
    assert info.value.body["type"] == "error" and info.value.body["error"]["type"] == kind


def test_a_failure_mid_stream_is_an_error_event(gateway):
    resp = raw_stream(gateway, {"messages": ask("x [[sim:finish=500,partial=2]]")})
    events = parse(resp.text)
    check_grammar(events)
    assert events[-1][0] == "error" and events[-1][1]["error"]["type"] == "api_error"


def test_claude_code_shaped_request(gateway):
    payload = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "<system-reminder>x</system-reminder>"},
                                         {"type": "text", "text": "Say hello"}]},
            {"role": "system", "content": "# Environment\n - cwd: /w",
             "output_config": {"effort": "medium"}}],
        "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2;"},
                   {"type": "text", "text": "You are a coding agent.",
                    "cache_control": {"type": "ephemeral"}}],
        "tools": [READ], "metadata": {"user_id": json.dumps({"device_id": "d"})},
        "thinking": {"type": "adaptive", "display": "omitted"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "medium"}}
    events = parse(raw_stream(gateway, payload).text)
    check_grammar(events)
    text = "".join(d["delta"].get("text", "") for n, d in events if n == "content_block_delta")
    assert text.startswith("You said:") and "Say hello" in text
