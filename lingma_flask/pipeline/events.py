"""The common stream of events the pipeline yields and every API face encodes.

In order: `Reasoning` and `Text` as Lingma produces them (with `KEEPALIVE` while it is
quiet), then at most one `Calls`, then one `Finish`. A failure is raised, not yielded.
"""

from __future__ import annotations

import dataclasses

from .tools.spec import ToolCall


@dataclasses.dataclass(frozen=True)
class Text:
    """Answer text to send now."""

    text: str


@dataclasses.dataclass(frozen=True)
class Reasoning:
    """Reasoning text to send now (only when the reasoning mode is `separate`)."""

    text: str


@dataclasses.dataclass(frozen=True)
class Calls:
    """The answer's tool calls, each checked against its tool's schema."""

    calls: tuple[ToolCall, ...]


@dataclasses.dataclass(frozen=True)
class Usage:
    """Estimated tokens: the prompt, the completion (reasoning included), and the reasoning."""

    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion."""
        return self.prompt_tokens + self.completion_tokens


@dataclasses.dataclass(frozen=True)
class Finish:
    """The end: why (`stop`, `length`, `tool_calls`, `content_filter`), and the usage."""

    reason: str
    usage: Usage
    stop_sequence: str | None = None


class _Keepalive:
    """Lingma has been quiet for a keepalive interval."""

    def __repr__(self) -> str:
        return "KEEPALIVE"


KEEPALIVE = _Keepalive()

Event = Text | Reasoning | Calls | Finish | _Keepalive
"""Any one item of the stream."""
