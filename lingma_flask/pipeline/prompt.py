"""Render a conversation (`Turn`s) into the one prompt Lingma takes. Pure and deterministic.

Rules (the prompt contract, also read by the simulator):
* one user turn and nothing else: its text, unchanged;
* otherwise: the system texts first under `System instructions:`, followed by the extra
  sections (offered tools, response format); then each turn in order as a `User:` or
  `Assistant:` block, assistant tool calls as `<tool_call>` blocks after the assistant's text,
  consecutive tool results as one `User:` block of `<tool_response>` blocks; then a final
  `Assistant:` cue. Blocks are separated by one blank line.
* images of earlier turns are named by `[image]` placeholders (only the last user turn's
  images travel to Lingma).

The length limit (LINGMA_MAX_PROMPT_CHARS) is checked first on `text_length`, a sum of
lengths no larger than the rendered prompt, so an over-long body is refused before it is
rendered or its tokens are counted; then once more on the rendered prompt.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..lingma.errors import LingmaPromptTooLargeError
from .conversation import Turn
from .tools.contract import call_block
from .tools.contract import response_block

SYSTEM_HEADING = "System instructions:"
CUE = "Assistant:"


class PromptTooLong(LingmaPromptTooLargeError):
    """A prompt over the gateway's limit, refused before Lingma; `chars` is its length."""

    def __init__(self, chars: int, limit: int, *, at_least: bool = False):
        super().__init__(f"The prompt is {'at least ' if at_least else ''}{chars} characters long,"
                         f" over this gateway's limit of {limit} (LINGMA_MAX_PROMPT_CHARS):"
                         " shorten the conversation.")
        self.chars, self.limit = chars, limit


def text_length(turns: Sequence[Turn], sections: Sequence[str] = ()) -> int:
    """Return a lower bound of the rendered prompt's length, without rendering it."""
    return sum(len(t.text) for t in turns) + sum(len(s) for s in sections)


def check_length(chars: int, limit: int | None, *, at_least: bool = False) -> None:
    """Refuse a prompt of `chars` characters (`at_least`: a lower bound) over `limit`."""
    if limit is not None and chars > limit:
        raise PromptTooLong(chars, limit, at_least=at_least)


def render_prompt(turns: Sequence[Turn], sections: Sequence[str] = ()) -> str:
    """Render a conversation, with extra system sections, into one prompt."""
    sections = [s for s in sections if s]
    if len(turns) == 1 and turns[0].role == "user" and not sections:
        return turns[0].text
    blocks = []
    system = [t.text for t in turns if t.role == "system" and t.text] + sections
    if system:
        blocks.append(SYSTEM_HEADING + "\n" + "\n\n".join(system))
    blocks.extend(turn_blocks([t for t in turns if t.role != "system"]))
    blocks.append(CUE)
    return "\n\n".join(blocks)


def turn_blocks(turns: Sequence[Turn]) -> list[str]:
    """Render the conversation turns as `User:` / `Assistant:` blocks."""
    names = call_names(turns)
    blocks, results = [], []
    for turn in turns:
        if turn.role == "tool":
            results.append(response_block(turn.name or names.get(turn.call_id or ""),
                                          turn.call_id, turn.text))
            continue
        if results:
            blocks.append("User:\n" + "\n".join(results))
            results = []
        blocks.append(("Assistant:\n" if turn.role == "assistant" else "User:\n") + turn_text(turn))
    if results:
        blocks.append("User:\n" + "\n".join(results))
    return blocks


def turn_text(turn: Turn) -> str:
    """Return what one user or assistant turn says, its calls and image placeholders included."""
    parts = [turn.text] if turn.text else []
    parts += ["[image]"] * len(turn.images)
    parts += [call_block(call.name, call.arguments) for call in turn.calls]
    return "\n".join(parts)


def call_names(turns: Sequence[Turn]) -> dict[str, str]:
    """Map tool call ids to function names, so a tool result can name its tool."""
    return {call.id: call.name for turn in turns for call in turn.calls if call.id}
