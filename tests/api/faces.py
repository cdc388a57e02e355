"""One request and one reading of the answer for each API face, streamed or not (test helper).

`FACES` maps a face name to its `Face`: `post(client, ...)` sends a question with function
tools, a tool choice, a structured-output schema and `stream`; `answer(response)` reads back
what a client sees, whichever way it came: the text, the calls as (name, arguments), and how
the answer ended ("stop" or "tool_calls"), or the error and its status.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

from . import anthropic_stream
from .sse import payloads

MODEL = "qwen3-coder"


@dataclasses.dataclass
class Seen:
    """What the client got: the text, the calls, how it ended, or an error."""

    text: str = ""
    calls: list[tuple[str, object]] = dataclasses.field(default_factory=list)
    ended: str | None = None
    error: dict | None = None
    status: int = 200
    headers: dict = dataclasses.field(default_factory=dict)


def _arguments(text: str) -> object:
    return json.loads(text)


# -- chat completions ----------------------------------------------------------------------

def _chat_tool(name: str, parameters: dict) -> dict:
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


def _chat_choice(choice) -> object:
    if isinstance(choice, tuple):
        return {"type": "function", "function": {"name": choice[1]}}
    return choice


def _chat_body(question, tools, choice, schema, stream, history) -> dict:
    messages = [{"role": "user", "content": question}] + list(history.get("chat", []))
    body = {"model": MODEL, "messages": messages, "stream": stream}
    if tools:
        body["tools"] = [_chat_tool(n, p) for n, p in tools]
    if choice is not None:
        body["tool_choice"] = _chat_choice(choice)
    if schema is not None:
        body["response_format"] = {"type": "json_schema",
                                   "json_schema": {"name": "answer", "schema": schema}}
    return body


def _chat_answer(resp) -> Seen:
    if resp.mimetype == "application/json":
        data = resp.get_json()
        if "error" in data:
            return Seen(error=data["error"], status=resp.status_code, headers=dict(resp.headers))
        choice = data["choices"][0]
        calls = [(c["function"]["name"], _arguments(c["function"]["arguments"]))
                 for c in choice["message"].get("tool_calls") or []]
        return Seen(choice["message"]["content"] or "", calls, choice["finish_reason"])
    seen = Seen()
    for chunk in payloads(resp.get_data(as_text=True)):
        if chunk == "[DONE]":
            continue
        if "error" in chunk:
            seen.error = chunk["error"]
            continue
        if not chunk.get("choices"):
            continue
        choice = chunk["choices"][0]
        seen.text += choice["delta"].get("content") or ""
        for call in choice["delta"].get("tool_calls") or []:
            seen.calls.append((call["function"]["name"], _arguments(call["function"]["arguments"])))
        seen.ended = choice["finish_reason"] or seen.ended
    return seen


# -- Responses -----------------------------------------------------------------------------

def _responses_choice(choice) -> object:
    if isinstance(choice, tuple):
        return {"type": "function", "name": choice[1]}
    return choice


def _responses_body(question, tools, choice, schema, stream, history) -> dict:
    items = [{"role": "user", "content": question}] + list(history.get("responses", []))
    body = {"model": MODEL, "input": items, "stream": stream, "store": False}
    if tools:
        body["tools"] = [{"type": "function", "name": n, "parameters": p} for n, p in tools]
    if choice is not None:
        body["tool_choice"] = _responses_choice(choice)
    if schema is not None:
        body["text"] = {"format": {"type": "json_schema", "name": "answer", "schema": schema}}
    return body


def _response_object(response: dict) -> Seen:
    seen = Seen()
    for item in response["output"]:
        if item["type"] == "message":
            seen.text += "".join(part["text"] for part in item["content"])
        elif item["type"] == "function_call":
            seen.calls.append((item["name"], _arguments(item["arguments"])))
    if response["status"] == "failed":
        seen.error = response["error"]
    else:
        seen.ended = "tool_calls" if seen.calls else "stop"
    return seen


def _responses_answer(resp) -> Seen:
    if resp.mimetype == "application/json":
        data = resp.get_json()
        if "error" in data and data.get("object") != "response":
            return Seen(error=data["error"], status=resp.status_code, headers=dict(resp.headers))
        return _response_object(data)
    events = [data for name, data in anthropic_stream.parse(resp.get_data(as_text=True))]
    final = events[-1]
    assert final["type"] in ("response.completed", "response.incomplete", "response.failed"), final
    seen = _response_object(final["response"])
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == seen.text, (deltas, seen.text)   # the deltas add up to the final object
    return seen


# -- Anthropic Messages --------------------------------------------------------------------

def _anthropic_choice(choice) -> dict:
    if isinstance(choice, tuple):
        return {"type": "tool", "name": choice[1]}
    return {"type": {"required": "any"}.get(choice, choice)}


def _anthropic_body(question, tools, choice, schema, stream, history) -> dict:
    messages = [{"role": "user", "content": question}] + list(history.get("anthropic", []))
    body = {"model": MODEL, "max_tokens": 4096, "messages": messages, "stream": stream}
    if tools:
        body["tools"] = [{"name": n, "input_schema": p} for n, p in tools]
    if choice is not None:
        body["tool_choice"] = _anthropic_choice(choice)
    if schema is not None:
        body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    return body


STOPS = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}


def _message_object(blocks: list[dict], stop_reason: str | None) -> Seen:
    seen = Seen(ended=STOPS.get(stop_reason or "", stop_reason))
    for block in blocks:
        if block["type"] == "text":
            seen.text += block["text"]
        elif block["type"] == "tool_use":
            seen.calls.append((block["name"], block["input"]))
    return seen


def _anthropic_answer(resp) -> Seen:
    if resp.mimetype == "application/json":
        data = resp.get_json()
        if data.get("type") == "error":
            return Seen(error=data["error"], status=resp.status_code, headers=dict(resp.headers))
        return _message_object(data["content"], data["stop_reason"])
    stream = anthropic_stream.parse(resp.get_data(as_text=True))
    anthropic_stream.check_grammar(stream)
    if stream[-1][0] == "error":
        return Seen(error=stream[-1][1]["error"])
    stop = next(d["delta"]["stop_reason"] for n, d in stream if n == "message_delta")
    return _message_object(anthropic_stream.blocks(stream), stop)


@dataclasses.dataclass(frozen=True)
class Face:
    """How to ask one face and how to read its answer."""

    url: str
    body: Callable[..., dict]
    read: Callable[..., Seen]

    def post(self, client, question: str, tools=(), choice=None, schema=None, stream=False,
             history=None):
        """Send the question (tools as (name, parameters) pairs); return the response."""
        return client.post(self.url, json=self.body(question, tools, choice, schema, stream,
                                                     history or {}))

    def ask(self, client, question: str, **fields) -> Seen:
        """Send the question and read the answer."""
        return self.read(self.post(client, question, **fields))


FACES = {
    "chat": Face("/v1/chat/completions", _chat_body, _chat_answer),
    "responses": Face("/v1/responses", _responses_body, _responses_answer),
    "anthropic": Face("/v1/messages", _anthropic_body, _anthropic_answer),
}
