"""The real openai SDK's Responses client against the app, in process (httpx2's WSGI transport)."""

import json

import openai
import pytest

from lingma_flask.lingma.errors import LingmaBusyError
from lingma_flask.lingma.errors import LingmaRateLimitError
from lingma_flask.lingma.stream import Thought

from .fakes import TICK

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather of a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"], "additionalProperties": False},
           "strict": True}
CALL_BLOCK = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


def test_create(sdk, pool):
    pool.script("Hello", " there")
    response = sdk.responses.create(model="gpt-5", input="hi", instructions="be nice")
    assert response.output_text == "Hello there"
    assert response.status == "completed" and response.model == "gpt-5"
    assert response.id.startswith("resp_") and response.instructions == "be nice"
    assert response.usage.output_tokens == 3
    assert response.usage.total_tokens == response.usage.input_tokens + 3


def test_create_streamed(sdk, pool):
    pool.script(TICK, "Hel", "lo")
    events = list(sdk.responses.create(model="gpt-5", input="hi", stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Hello"
    assert events[-1].response.output_text == "Hello"
    numbers = [e.sequence_number for e in events]
    assert numbers == sorted(set(numbers))


def test_stream_helper_collects_the_final_response(sdk, pool):
    pool.script(Thought("Let me think"), "Hel", TICK, "lo")
    with sdk.responses.stream(model="gpt-5", input="hi") as stream:
        snapshots = [e.snapshot for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert snapshots == ["Hel", "Hello"]
    assert final.output_text == "Hello"
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].summary[0].text == "Let me think"
    assert final.usage.output_tokens_details.reasoning_tokens > 0


def test_stream_helper_with_a_function_tool(sdk, pool):
    pool.script("Checking.\n", CALL_BLOCK)
    with sdk.responses.stream(model="gpt-5", input="weather in Paris?", tools=[WEATHER]) as stream:
        argument_snapshots = [e.snapshot for e in stream
                              if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    assert argument_snapshots == ['{"city": "Paris"}']
    call = final.output[-1]
    assert call.type == "function_call" and call.name == "get_weather"
    assert call.call_id.startswith("call_") and json.loads(call.arguments) == {"city": "Paris"}
    assert call.parsed_arguments == {"city": "Paris"}
    assert final.output_text.strip() == "Checking."


def test_a_tool_round_trip_with_previous_response_id(sdk, pool):
    pool.script(CALL_BLOCK)
    first = sdk.responses.create(model="gpt-5", input="weather in Paris?", tools=[WEATHER])
    call = first.output[0]
    pool.script("It is sunny in Paris.")
    second = sdk.responses.create(
        model="gpt-5", previous_response_id=first.id, tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    assert second.output_text == "It is sunny in Paris."
    assert f'"call_id": "{call.call_id}", "content": "sunny"' in pool.asks[-1][0]


def test_failure_mid_stream_is_a_failed_event(sdk, pool):
    pool.script("partial", LingmaRateLimitError("slow down", retry_after=2))
    with sdk.responses.stream(model="gpt-5", input="hi") as stream:
        events = list(stream)
        with pytest.raises(RuntimeError, match="response.completed"):
            stream.get_final_response()
    failed = events[-1]
    assert failed.type == "response.failed" and failed.response.status == "failed"
    assert failed.response.error.code == "rate_limit_exceeded"
    assert "Please try again in 2s." in failed.response.error.message


def test_errors_before_the_stream_raise(sdk, pool):
    pool.ask_error = LingmaBusyError("full", retry_after=2)
    with pytest.raises(openai.RateLimitError) as info:
        sdk.responses.create(model="gpt-5", input="hi", stream=True)
    assert info.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.BadRequestError) as info:
        sdk.responses.create(model="gpt-5", input="hi", previous_response_id="resp_gone")
    assert info.value.code == "previous_response_not_found"
    assert info.value.param == "previous_response_id"
