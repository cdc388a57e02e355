"""The Responses API objects: the response, its output items, usage, and a failure's error.

The non-streamed body and the streamed events build from these same functions, so the object
`response.completed` carries is exactly the one a non-streaming request gets.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import time

from ..pipeline.tools.freeform import call_input
from ..web.errors import ApiError

# a pipeline finish reason -> (response status, incomplete_details.reason)
STATUSES = {
    "stop": ("completed", None),
    "tool_calls": ("completed", None),
    "length": ("incomplete", "max_output_tokens"),
    "content_filter": ("incomplete", "content_filter"),
}
PASSED_CODES = ("insufficient_quota", "context_length_exceeded")


RESPONSE_ID = re.compile(r"resp_[0-9a-f]{48}")   # what new_id("resp_") gives


def new_id(prefix: str) -> str:
    """Return a fresh id: `resp_`, `msg_`, `rs_`, `fc_` or `ctc_` and 48 random hex digits."""
    return prefix + secrets.token_hex(24)


@dataclasses.dataclass(frozen=True)
class ResponseHead:
    """What every copy of one response repeats: id, creation time, model, the echoed fields.

    `custom_tools` names the request's custom tools, whose calls are `custom_tool_call` items.
    """

    model: str
    echo: dict
    id: str = dataclasses.field(default_factory=lambda: new_id("resp_"))
    created_at: int = dataclasses.field(default_factory=lambda: int(time.time()))
    custom_tools: frozenset[str] = frozenset()

    def object(self, status: str, output: list | tuple = (), usage: dict | None = None,
               error: dict | None = None, incomplete: str | None = None) -> dict:
        """Return the `response` object in a given state."""
        return {
            "id": self.id, "object": "response", "created_at": self.created_at,
            "status": status, "background": False,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": error,
            "incomplete_details": {"reason": incomplete} if incomplete else None,
            "model": self.model, "output": list(output), **self.echo, "usage": usage,
        }


def status_of(finish_reason: str) -> tuple[str, str | None]:
    """Return the response status and incomplete reason of a pipeline finish reason."""
    return STATUSES.get(finish_reason, ("completed", None))


def output_text_part(text: str) -> dict:
    """Return an `output_text` content part."""
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def message_item(item_id: str, text: str | None, status: str) -> dict:
    """Return an assistant `message` item; None text means no content part yet."""
    content = [] if text is None else [output_text_part(text)]
    return {"id": item_id, "type": "message", "status": status, "role": "assistant",
            "content": content}


def summary_part(text: str) -> dict:
    """Return a reasoning `summary_text` part."""
    return {"type": "summary_text", "text": text}


def reasoning_item(item_id: str, text: str | None) -> dict:
    """Return a `reasoning` item whose summary is the reasoning text (None: none yet)."""
    return {"id": item_id, "type": "reasoning",
            "summary": [] if text is None else [summary_part(text)]}


def function_call_item(item_id: str, call, status: str, arguments: str | None = None) -> dict:
    """Return a `function_call` item of a checked ToolCall (`arguments` overrides its JSON)."""
    return {"id": item_id, "type": "function_call", "status": status,
            "arguments": call.arguments_json() if arguments is None else arguments,
            "call_id": call.id, "name": call.name}


def custom_tool_call_item(item_id: str, call, status: str, text: str | None = None) -> dict:
    """Return a `custom_tool_call` item of a checked call of a custom tool (`text` overrides its
    input)."""
    return {"id": item_id, "type": "custom_tool_call", "status": status,
            "call_id": call.id, "name": call.name,
            "input": call_input(call) if text is None else text}


def call_item(head: ResponseHead, call, status: str) -> dict:
    """Return the output item of a checked call: a custom tool call or a function call."""
    if call.name in head.custom_tools:
        return custom_tool_call_item(new_id("ctc_"), call, status)
    return function_call_item(new_id("fc_"), call, status)


def usage_object(usage) -> dict:
    """Return the Responses `usage` object of an events.Usage."""
    return {"input_tokens": usage.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": usage.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.total_tokens}


def failure_error(error: ApiError) -> dict:
    """Return a failed response's `error`, with a code Codex acts on.

    Codex knows `context_length_exceeded`, `insufficient_quota` and `rate_limit_exceeded`
    (waiting as long as "try again in Ns" in the message says); anything else is a
    `server_error`, which it retries.
    """
    if error.code in PASSED_CODES:
        return {"code": error.code, "message": error.message}
    if error.status != 429:
        return {"code": "server_error", "message": error.message}
    message = error.message
    retry = error.headers.get("Retry-After")
    if retry:
        message = message.rstrip() + f" Please try again in {retry}s."
    return {"code": "rate_limit_exceeded", "message": message}


def response_body(head: ResponseHead, result) -> dict:
    """Return the whole response of a gathered answer (a pipeline Result)."""
    status, incomplete = status_of(result.finish.reason)
    output = []
    if result.reasoning:
        output.append(reasoning_item(new_id("rs_"), "".join(result.reasoning)))
    if result.content:
        item_status = "completed" if status == "completed" else "incomplete"
        output.append(message_item(new_id("msg_"), result.content, item_status))
    output += [call_item(head, call, "completed") for call in result.calls]
    return head.object(status, output, usage_object(result.finish.usage), incomplete=incomplete)
