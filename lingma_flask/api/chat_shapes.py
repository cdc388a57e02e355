"""The OpenAI chat completion objects: non-streamed completions and streamed chunks."""

from __future__ import annotations

import dataclasses
import time

from ..ids import hex_id
from ..pipeline.tools.freeform import call_input


def new_completion_id() -> str:
    """Return a fresh `chatcmpl-...` id."""
    return "chatcmpl-" + hex_id()


def usage_object(usage) -> dict:
    """Return the chat `usage` object of an events.Usage (reasoning tokens in the details)."""
    body = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens}
    if usage.reasoning_tokens:
        body["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return body


def tool_call_object(call, custom_tools: frozenset[str] = frozenset()) -> dict:
    """Return one `tool_calls` entry: id, type and the function with its JSON arguments, or,
    for a custom tool (named in `custom_tools`), the tool with its text input."""
    if call.name in custom_tools:
        return {"id": call.id, "type": "custom",
                "custom": {"name": call.name, "input": call_input(call)}}
    return {"id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": call.arguments_json()}}


@dataclasses.dataclass(frozen=True)
class Completion:
    """Builds every object of one completion; id, created and model stay the same on all.

    `custom_tools` names the request's custom tools, whose calls are `custom` tool calls.
    """

    model: str
    id: str = dataclasses.field(default_factory=new_completion_id)
    created: int = dataclasses.field(default_factory=lambda: int(time.time()))
    custom_tools: frozenset[str] = frozenset()

    def message(self, message: dict, finish_reason: str, usage: dict) -> dict:
        """Return the non-streamed `chat.completion` object."""
        choice = {"index": 0, "message": message, "logprobs": None,
                  "finish_reason": finish_reason}
        return {**self._head("chat.completion"), "choices": [choice], "usage": usage}

    def chunk(self, delta: dict, finish_reason: str | None = None) -> dict:
        """Return one `chat.completion.chunk` with a single choice."""
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**self._head("chat.completion.chunk"), "choices": [choice]}

    def role_chunk(self) -> dict:
        """Return the first chunk: the assistant role with empty content."""
        return self.chunk({"role": "assistant", "content": ""})

    def usage_chunk(self, usage: dict) -> dict:
        """Return the final usage chunk (`choices` is empty)."""
        return {**self._head("chat.completion.chunk"), "choices": [], "usage": usage}

    def _head(self, obj: str) -> dict:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model,
                "system_fingerprint": None}
