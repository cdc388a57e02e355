"""The Responses API through real gunicorn + gevent + the simulator, driven by the openai SDK."""

import json

import openai
import pytest
import requests

from lingma_flask.lingma.instance import wait_until
from tests.integration.gateway import API_KEY

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {API_KEY}"}
THINKING = "dashscope_qwen_plus_20250428_thinking"
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather of a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"], "additionalProperties": False},
           "strict": False}


def sse_events(resp):
    """Yield ("comment", line) or (event name, data) from a streamed requests response."""
    name = None
    for line in resp.iter_lines(decode_unicode=True):
        if line.startswith(":"):
            yield "comment", line
        elif line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            data = json.loads(line[len("data: "):])
            assert data["type"] == name
            yield name, data


def post_stream(gateway, **body):
    return requests.post(gateway.url + "/v1/responses", headers=AUTH, stream=True, timeout=60,
                         json={"model": "gpt-5.5", "stream": True, **body})


def test_create_and_the_stream_helper(client):
    response = client.responses.create(model="gpt-5.5", input="hello")
    assert response.output_text == "You said: hello" and response.status == "completed"
    assert response.model == "gpt-5.5" and response.usage.total_tokens > 0
    with client.responses.stream(model="auto", input="stream me") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert len(deltas) > 1 and "".join(deltas) == "You said: stream me"
    assert final.output_text == "You said: stream me" and final.id.startswith("resp_")


def test_reasoning_comes_as_a_reasoning_item_before_the_message(client):
    with client.responses.stream(model=THINKING, input="why is the sky blue") as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_response()
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].summary[0].text.startswith("Thinking about: why is the sky blue")
    assert final.output_text == "You said: why is the sky blue"
    assert kinds.index("response.reasoning_summary_text.delta") \
        < kinds.index("response.output_text.delta")
    assert final.usage.output_tokens_details.reasoning_tokens > 0


def test_a_tool_call_and_its_result(client):
    with client.responses.stream(model="auto", input="weather? [[sim:tool]]",
                                 tools=[WEATHER]) as stream:
        final = stream.get_final_response()
    message, call = final.output
    assert message.type == "message" and final.output_text.strip() == "Let me use get_weather."
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "sim"} and call.call_id.startswith("call_")
    # the next turn as Codex sends it: no store, the whole conversation as input items
    follow = client.responses.create(model="auto", store=False, tools=[WEATHER], input=[
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
    ])
    assert follow.output_text == "Tool result: sunny"


def test_previous_response_id_across_requests(client):
    first = client.responses.create(model="auto", input="remember me")
    second = client.responses.create(model="auto", input="and now?", previous_response_id=first.id)
    assert second.output_text == "You said: and now?"
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="auto", input="x", previous_response_id="resp_unknown")
    assert info.value.code == "previous_response_not_found"


def test_failure_after_the_start_is_response_failed(gateway):
    resp = post_stream(gateway, input="[[sim:finish=429]]")
    events = list(sse_events(resp))
    assert events[0][0] == "response.created"
    name, data = events[-1]
    assert name == "response.failed" and data["response"]["status"] == "failed"
    assert data["response"]["error"]["code"] == "rate_limit_exceeded"
    resp = post_stream(gateway, input="[[sim:finish=403]] [[sim:reason=quota_exhausted]]")
    assert list(sse_events(resp))[-1][1]["response"]["error"]["code"] == "insufficient_quota"


def test_keepalives_before_a_slow_first_token(gateway):
    resp = post_stream(gateway, input="slow start [[sim:ttft=2]]")
    assert resp.headers["content-type"].startswith("text/event-stream")
    names = [name for name, _ in sse_events(resp)]
    first_item = names.index("response.output_item.added")
    assert names[:2] == ["response.created", "response.in_progress"]
    assert names[:first_item].count("comment") >= 2
    assert names[:first_item].count("response.in_progress") >= 3
    assert names[-1] == "response.completed"


def test_client_disconnect_stops_lingma(gateway):
    resp = post_stream(gateway, input="walk away [[sim:len=100000]] [[sim:delay=0.05]]")
    for name, _ in sse_events(resp):
        if name == "response.output_text.delta":
            break
    resp.close()
    ask_id = next(a["requestId"] for a in gateway.sim_state()["asks"]
                  if "walk away" in a["questionText"])
    assert wait_until(lambda: ask_id in gateway.sim_state()["stops"], 10)
    assert wait_until(lambda: gateway.health()[1]["in_flight"] == 0, 10)


def test_a_codex_shaped_request(gateway):
    body = {
        "model": "gpt-5.5", "stream": True, "store": False, "tool_choice": "auto",
        "parallel_tool_calls": True, "reasoning": {"summary": "auto"},
        "include": ["reasoning.encrypted_content"], "prompt_cache_key": "0199-session",
        "client_metadata": {"session_id": "0199-session", "turn_id": "t1"},
        "text": {"verbosity": "low"},
        "tools": [{**WEATHER, "name": "exec_command"},
                  {"type": "namespace", "name": "multi_agent_v1", "tools": [WEATHER]},
                  {"type": "custom", "name": "apply_patch",
                   "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}},
                  {"type": "tool_search", "execution": "client"},
                  {"type": "web_search", "external_web_access": True}],
        "input": [
            {"type": "message", "role": "developer",
             "content": [{"type": "input_text", "text": "You are a coding agent."}]},
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "<environment_context/>"}]},
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "say hi"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "content": None,
             "encrypted_content": None},
        ],
    }
    resp = requests.post(gateway.url + "/v1/responses", headers=AUTH, stream=True, timeout=60,
                         json=body)
    assert resp.status_code == 200
    events = [data for name, data in sse_events(resp) if name != "comment"]
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert done[-1]["type"] == "message"
    assert done[-1]["content"][0]["text"] == "You said: say hi"
    completed = events[-1]
    assert completed["type"] == "response.completed" and completed["response"]["id"]
    usage = completed["response"]["usage"]
    assert {"input_tokens", "output_tokens", "total_tokens"} <= set(usage)
    assert usage["input_tokens_details"]["cached_tokens"] == 0
