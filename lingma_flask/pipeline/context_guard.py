"""The context guard: refuse a prompt that cannot fit the model's window before Lingma is asked.

Where Lingma says how large a model's context window is (a registry field of
`config/queryModels`, or the `limitTokens` of an ACP `context_usage` report: the pool's
`context_window`), a prompt whose estimated tokens (tokens.py, the estimate usage reports)
exceed it is refused with 400 `context_length_exceeded` in OpenAI's wording; the Anthropic
face rewords it as "prompt is too long: M tokens > N maximum". Agents (Codex, Claude Code)
compact their conversation on exactly these errors, instead of failing mid-answer when Lingma
runs out of room. An unknown window means no guard.
"""

from __future__ import annotations

from ..lingma.errors import LingmaPromptTooLargeError
from .ports import Pool


class ContextWindowExceeded(LingmaPromptTooLargeError):
    """A prompt of `tokens` (estimated) over the model's window of `limit` tokens."""

    def __init__(self, tokens: int, limit: int) -> None:
        super().__init__(
            f"This model's maximum context length is {limit} tokens. However, your messages"
            f" resulted in {tokens} tokens. Please reduce the length of the messages.")
        self.tokens = tokens
        self.limit = limit


def check_context(tokens: int, window: int | None) -> None:
    """Raise ContextWindowExceeded when `tokens` cannot fit `window` (None: unknown, no guard)."""
    if window is not None and window > 0 and tokens > window:
        raise ContextWindowExceeded(tokens, window)


def guard(pool: Pool, model_key: str | None, tokens: int) -> None:
    """Refuse `tokens` of prompt for `model_key` if the pool knows a window they exceed."""
    check_context(tokens, pool.context_window(model_key))
