"""The common chat request every API face parses into, and the pipeline takes.

A face (chat completions, Responses, Anthropic Messages, legacy completions) turns its own
request body into a `ChatRequest`: the conversation as `Turn`s, the model name as asked, and
the rules of the answer (stream, stops, token limit, tools, structured output, reasoning).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING
from typing import Any

from .tools.spec import Tool
from .tools.spec import ToolChoice

if TYPE_CHECKING:  # a name for the annotation only: plain request data need not load jsonschema
    from .tools.check import Compiled

ROLES = ("system", "user", "assistant", "tool")


@dataclasses.dataclass(frozen=True)
class PastCall:
    """A tool call the assistant made earlier in the conversation (arguments as given)."""

    id: str | None
    name: str
    arguments: object = ""


@dataclasses.dataclass(frozen=True)
class Turn:
    """One turn: system text, a user turn, an assistant turn (with calls), or a tool result.

    `images` are data URIs (a user turn's pictures); `call_id` and `name` identify the call a
    tool result answers.
    """

    role: str
    text: str = ""
    images: tuple[str, ...] = ()
    calls: tuple[PastCall, ...] = ()
    call_id: str | None = None
    name: str | None = None


@dataclasses.dataclass(frozen=True)
class ResponseFormat:
    """Structured output: a JSON object, validated against `schema` when one is given."""

    schema: dict[str, Any] | None = None
    name: str = "response"
    strict: bool = False
    checker: Compiled | None = dataclasses.field(default=None, compare=False, repr=False)


@dataclasses.dataclass(frozen=True)
class ChatRequest:
    """A validated request of any face, as plain data."""

    turns: tuple[Turn, ...]
    model: str | None = None
    stream: bool = False
    stops: tuple[str, ...] = ()
    max_tokens: int | None = None
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice = ToolChoice()
    parallel_tools: bool = True
    response_format: ResponseFormat | None = None
    call_prefix: str = "call_"        # how this face's tool call ids begin
    ignored: tuple[str, ...] = ()

    @property
    def images(self) -> tuple[str, ...]:
        """The images sent to Lingma: those of the last user turn."""
        for turn in reversed(self.turns):
            if turn.role == "user":
                return turn.images
        return ()
