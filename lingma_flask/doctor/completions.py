"""Checks of the legacy POST /v1/completions through the openai SDK."""

from __future__ import annotations

from . import text
from .runner import Check
from .runner import expect

MAX_TOKENS = 64   # the endpoint's default is 16, short for a real model's sentence
ENDINGS = ("stop", "length")


def create(target) -> str:
    """A plain text completion: text and a finish_reason."""
    with target.openai() as client:
        completion = client.completions.create(model=target.model, prompt=text.PROMPT,
                                               max_tokens=MAX_TOKENS)
    expect(completion.choices, f"no choices: {text.brief(completion)}")
    choice = completion.choices[0]
    expect(choice.text.strip(), f"no text: {text.brief(choice)}")
    expect(choice.finish_reason in ENDINGS, f"finish_reason is {choice.finish_reason!r}")
    return text.quote(choice.text)


def stream(target) -> str:
    """A streamed completion: text chunks, then one finish_reason."""
    with target.openai() as client:
        with client.completions.create(model=target.model, prompt=text.PROMPT,
                                       max_tokens=MAX_TOKENS, stream=True) as frames:
            chunks = list(frames)
    answer = "".join(c.choices[0].text for c in chunks if c.choices)
    expect(answer.strip(), f"no text in {len(chunks)} chunks")
    finishes = [c.choices[0].finish_reason for c in chunks
                if c.choices and c.choices[0].finish_reason]
    expect(len(finishes) == 1 and finishes[0] in ENDINGS, f"finish_reason chunks: {finishes}")
    return f"{len(chunks)} chunks, {text.quote(answer)}"


CHECKS = (
    Check("completions", "create", create),
    Check("completions", "stream", stream),
)
