"""Checks of POST /v1/responses through the openai SDK: create, the stream helper, tools."""

from __future__ import annotations

from . import text
from . import tool
from .runner import Check
from .runner import expect

TOOL_INPUT = [{"role": "user", "content": tool.PROMPT}]
TOOLS = [{"type": "function", "name": tool.NAME, "description": tool.DESCRIPTION,
          "parameters": tool.SCHEMA, "strict": False}]


def create(target) -> str:
    """A plain response: completed, with output text and usage."""
    with target.openai() as client:
        response = client.responses.create(model=target.model, input=text.PROMPT)
    return answered(response)


def answered(response) -> str:
    """Check a response is completed with text and usage; return its detail."""
    expect(response.status == "completed", f"status is {response.status!r}")
    expect(response.output_text.strip(), f"no output text: {text.brief(response.output)}")
    expect(response.usage and response.usage.total_tokens > 0, "no usage")
    return f"{text.quote(response.output_text)}, {response.usage.total_tokens} tokens"


def stream_helper(target) -> str:
    """`responses.stream()`: numbered events from response.created to response.completed."""
    with target.openai() as client:
        with client.responses.stream(model=target.model, input=text.PROMPT) as stream:
            events = list(stream)
            final = stream.get_final_response()
    kinds = [event.type for event in events]
    expect(kinds and kinds[0] == "response.created",
           f"the first event is not response.created: {kinds[:3]}")
    expect(kinds[-1] == "response.completed", f"the events end with {kinds[-1]!r}")
    numbers = [event.sequence_number for event in events]
    expect(numbers == sorted(set(numbers)), "sequence_number does not increase")
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    expect(deltas == final.output_text, "the text deltas do not add up to the output text")
    return f"{len(events)} events, {answered(final)}"


def function_call(response):
    """Check a response holds one call of the tool; return the item and its arguments."""
    calls = [item for item in response.output if item.type == "function_call"]
    expect(calls, f"no function_call item: {text.brief(response.output)}")
    return calls[0], tool.check_call(calls[0].name, calls[0].arguments)


def call_tool(client, model):
    """Ask for a required call; return the call item and its arguments."""
    response = client.responses.create(model=model, input=TOOL_INPUT, tools=TOOLS,
                                       tool_choice="required")
    return function_call(response)


def tool_call(target) -> str:
    """tool_choice required: a function_call item whose JSON arguments fit the tool."""
    with target.openai() as client:
        _, arguments = call_tool(client, target.model)
    return tool.show(arguments)


def tool_call_streamed(target) -> str:
    """The stream helper's final response holds the call."""
    with target.openai() as client:
        with client.responses.stream(model=target.model, input=TOOL_INPUT, tools=TOOLS,
                                     tool_choice="required") as stream:
            final = stream.get_final_response()
    _, arguments = function_call(final)
    return tool.show(arguments)


def tool_round_trip(target) -> str:
    """Send the call and its function_call_output back (the whole input, as Codex does)."""
    with target.openai() as client:
        call, arguments = call_tool(client, target.model)
        turn = [{"type": "function_call", "call_id": call.call_id, "name": call.name,
                 "arguments": call.arguments},
                {"type": "function_call_output", "call_id": call.call_id,
                 "output": tool.result(arguments)}]
        response = client.responses.create(model=target.model, input=TOOL_INPUT + turn,
                                           tools=TOOLS)
    calls = [item for item in response.output if item.type == "function_call"]
    expect(not calls, f"another call instead of an answer: {text.brief(calls)}")
    return answered(response)


CHECKS = (
    Check("responses", "create", create),
    Check("responses", "stream helper", stream_helper),
    Check("responses", "tool call", tool_call),
    Check("responses", "tool call, streamed", tool_call_streamed),
    Check("responses", "tool round trip", tool_round_trip),
)
