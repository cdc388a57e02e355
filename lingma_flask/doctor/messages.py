"""Checks of POST /v1/messages (and count_tokens) through the anthropic SDK."""

from __future__ import annotations

from . import text
from . import tool
from .runner import Check
from .runner import expect

ASK = [{"role": "user", "content": text.PROMPT}]
TOOL_ASK = [{"role": "user", "content": tool.PROMPT}]
TOOLS = [{"name": tool.NAME, "description": tool.DESCRIPTION, "input_schema": tool.SCHEMA}]


def text_of(message) -> str:
    """Return a message's text blocks joined."""
    return "".join(block.text for block in message.content if block.type == "text")


def answered(message) -> str:
    """Check a message is a text answer that ended its turn; return its detail."""
    expect(message.role == "assistant", f"role is {message.role!r}")
    expect(text_of(message).strip(), f"no text block: {text.brief(message.content)}")
    expect(message.stop_reason == "end_turn", f"stop_reason is {message.stop_reason!r}")
    usage = message.usage
    expect(usage.input_tokens > 0 and usage.output_tokens > 0, f"usage: {text.brief(usage)}")
    return f"{text.quote(text_of(message))}, {usage.input_tokens}+{usage.output_tokens} tokens"


def create(target) -> str:
    """A plain message: a text block, stop_reason end_turn, usage."""
    with target.anthropic() as client:
        message = client.messages.create(model=target.model, max_tokens=text.MAX_TOKENS,
                                         messages=ASK)
    return answered(message)


def stream_helper(target) -> str:
    """`messages.stream()`: message_start to message_stop, the text deltas make the text."""
    with target.anthropic() as client:
        with client.messages.stream(model=target.model, max_tokens=text.MAX_TOKENS,
                                    messages=ASK) as stream:
            events = list(stream)
            final = stream.get_final_message()
    kinds = [event.type for event in events]
    expect(kinds and kinds[0] == "message_start",
           f"the first event is not message_start: {kinds[:3]}")
    expect(kinds[-1] == "message_stop", f"the events end with {kinds[-1]!r}")
    deltas = "".join(event.text for event in events if event.type == "text")
    expect(deltas == text_of(final), "the text deltas do not add up to the message's text")
    return f"{len(events)} events, {answered(final)}"


def count_tokens(target) -> str:
    """`messages.count_tokens()` counts more than nothing."""
    with target.anthropic() as client:
        counted = client.messages.count_tokens(model=target.model, messages=ASK)
    expect(counted.input_tokens > 0, f"input_tokens is {counted.input_tokens}")
    return f"{counted.input_tokens} input tokens"


def tool_use(message):
    """Check a message ends with a call of the tool; return the block and its input."""
    calls = [block for block in message.content if block.type == "tool_use"]
    expect(calls, f"no tool_use block: {text.brief(message.content)}")
    expect(message.stop_reason == "tool_use", f"stop_reason is {message.stop_reason!r}")
    return calls[0], tool.check_call(calls[0].name, calls[0].input)


def call_tool(client, model):
    """Ask for a call (tool_choice any); return the message, its tool_use block and input."""
    message = client.messages.create(model=model, max_tokens=text.MAX_TOKENS, messages=TOOL_ASK,
                                      tools=TOOLS, tool_choice={"type": "any"})
    return (message, *tool_use(message))


def tool_call(target) -> str:
    """tool_choice any: a tool_use block whose input fits the tool."""
    with target.anthropic() as client:
        _, _, arguments = call_tool(client, target.model)
    return tool.show(arguments)


def tool_call_streamed(target) -> str:
    """The stream helper builds the tool_use input from its JSON deltas."""
    with target.anthropic() as client:
        with client.messages.stream(model=target.model, max_tokens=text.MAX_TOKENS,
                                    messages=TOOL_ASK, tools=TOOLS,
                                    tool_choice={"type": "any"}) as stream:
            final = stream.get_final_message()
    _, arguments = tool_use(final)
    return tool.show(arguments)


def past_blocks(message) -> list[dict]:
    """Return a message's text and tool_use blocks as request content."""
    blocks = []
    for block in message.content:
        if block.type == "text":
            blocks.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
            blocks.append({"type": "tool_use", "id": block.id, "name": block.name,
                           "input": block.input})
    return blocks


def tool_round_trip(target) -> str:
    """Send the tool_use back with its tool_result; the answer is text."""
    with target.anthropic() as client:
        message, call, arguments = call_tool(client, target.model)
        result = {"type": "tool_result", "tool_use_id": call.id,
                  "content": tool.result(arguments)}
        answer = client.messages.create(
            model=target.model, max_tokens=text.MAX_TOKENS, tools=TOOLS,
            messages=TOOL_ASK + [{"role": "assistant", "content": past_blocks(message)},
                                 {"role": "user", "content": [result]}])
    calls = [block for block in answer.content if block.type == "tool_use"]
    expect(not calls, f"another call instead of an answer: {text.brief(calls)}")
    return answered(answer)


CHECKS = (
    Check("messages", "create", create),
    Check("messages", "stream helper", stream_helper),
    Check("messages", "count_tokens", count_tokens),
    Check("messages", "tool call", tool_call),
    Check("messages", "tool call, streamed", tool_call_streamed),
    Check("messages", "tool round trip", tool_round_trip),
)
