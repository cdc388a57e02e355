"""Checks of POST /v1/chat/completions through the openai SDK: plain, streamed, tools."""

from __future__ import annotations

from . import text
from . import tool
from .runner import Check
from .runner import expect

ASK = [{"role": "user", "content": text.PROMPT}]
TOOL_ASK = [{"role": "user", "content": tool.PROMPT}]
TOOLS = [{"type": "function", "function": {"name": tool.NAME, "description": tool.DESCRIPTION,
                                           "parameters": tool.SCHEMA}}]


def answered(choice) -> str:
    """Check a choice is a text answer that stopped; return its text quoted."""
    expect(choice.message.content and choice.message.content.strip(),
           f"no content: {text.brief(choice)}")
    expect(choice.finish_reason == "stop", f"finish_reason is {choice.finish_reason!r}")
    return text.quote(choice.message.content)


def create(target) -> str:
    """A plain completion: text content, finish_reason stop, usage."""
    with target.openai() as client:
        completion = client.chat.completions.create(model=target.model, messages=ASK)
    expect(completion.choices, f"no choices: {text.brief(completion)}")
    quoted = answered(completion.choices[0])
    expect(completion.usage and completion.usage.total_tokens > 0, "no usage")
    return f"{quoted}, {completion.usage.total_tokens} tokens"


def stream(target) -> str:
    """A raw stream: the role chunk first, content, one finish_reason, the usage chunk last."""
    with target.openai() as client:
        with client.chat.completions.create(model=target.model, messages=ASK, stream=True,
                                            stream_options={"include_usage": True}) as frames:
            chunks = list(frames)
    expect(chunks, "the stream had no chunks")
    first = chunks[0]
    expect(first.choices and first.choices[0].delta.role == "assistant",
           f"the first chunk has no role 'assistant': {text.brief(first)}")
    answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    expect(answer.strip(), "no content in the stream")
    finishes = [c.choices[0].finish_reason for c in chunks
                if c.choices and c.choices[0].finish_reason]
    expect(finishes == ["stop"], f"finish_reason chunks: {finishes}")
    last = chunks[-1]
    expect(not last.choices and last.usage and last.usage.total_tokens > 0,
           f"the last chunk is not the usage chunk (include_usage): {text.brief(last)}")
    expect(len({c.id for c in chunks}) == 1, "the chunks' ids differ")
    return f"{len(chunks)} chunks, {text.quote(answer)}"


def stream_helper(target) -> str:
    """The SDK's `chat.completions.stream()` accumulator and its final completion."""
    with target.openai() as client:
        with client.chat.completions.stream(model=target.model, messages=ASK) as events:
            final = events.get_final_completion()
    return answered(final.choices[0])


def call_tool(client, model):
    """Ask for a required call; return the message, its checked call and arguments."""
    completion = client.chat.completions.create(model=model, messages=TOOL_ASK, tools=TOOLS,
                                                tool_choice="required")
    return checked_call(completion.choices[0])


def checked_call(choice):
    """Check a choice ends with one tool call of the tool; return message, call, arguments."""
    calls = choice.message.tool_calls or []
    expect(calls, f"no tool_calls: {text.brief(choice)}")
    expect(choice.finish_reason == "tool_calls", f"finish_reason is {choice.finish_reason!r}")
    arguments = tool.check_call(calls[0].function.name, calls[0].function.arguments)
    return choice.message, calls[0], arguments


def tool_call(target) -> str:
    """tool_choice required: the call's name and JSON arguments fit the tool."""
    with target.openai() as client:
        _, _, arguments = call_tool(client, target.model)
    return tool.show(arguments)


def tool_call_streamed(target) -> str:
    """The stream helper accumulates the call from its deltas."""
    with target.openai() as client:
        with client.chat.completions.stream(model=target.model, messages=TOOL_ASK, tools=TOOLS,
                                            tool_choice="required") as events:
            final = events.get_final_completion()
    _, _, arguments = checked_call(final.choices[0])
    return tool.show(arguments)


def tool_round_trip(target) -> str:
    """Send the call back with the tool's result; the answer is text."""
    with target.openai() as client:
        message, call, arguments = call_tool(client, target.model)
        assistant = {"role": "assistant", "content": message.content,
                     "tool_calls": [call.model_dump(exclude_none=True)]}
        reply = {"role": "tool", "tool_call_id": call.id, "content": tool.result(arguments)}
        completion = client.chat.completions.create(
            model=target.model, messages=TOOL_ASK + [assistant, reply], tools=TOOLS)
    choice = completion.choices[0]
    expect(not choice.message.tool_calls,
           f"another call instead of an answer: {text.brief(choice)}")
    return answered(choice)


CHECKS = (
    Check("chat", "create", create),
    Check("chat", "stream", stream),
    Check("chat", "stream helper", stream_helper),
    Check("chat", "tool call", tool_call),
    Check("chat", "tool call, streamed", tool_call_streamed),
    Check("chat", "tool round trip", tool_round_trip),
)
