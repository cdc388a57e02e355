"""The one token estimator: deterministic, offline, used for usage and max_tokens alike.

Lingma reports no token counts, so usage is an estimate: every CJK character (Han, kana,
Hangul, full-width forms) counts as one token; every other run of text counts as
ceil(len(run) / 4) tokens; each chat message adds a fixed overhead of 4 tokens.
"""

from __future__ import annotations

import re

MESSAGE_OVERHEAD = 4

_CJK = re.compile(
    "[\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0002ffff]"
)


def is_cjk(char: str) -> bool:
    """Tell whether one character counts as a token on its own."""
    return _CJK.match(char) is not None


def estimate_tokens(text: str) -> int:
    """Estimate the tokens in a piece of text."""
    counter = TokenCounter()
    counter.add(text)
    return counter.count


def estimate_prompt_tokens(texts: list[str]) -> int:
    """Estimate the prompt tokens of chat messages given as their plain texts."""
    return sum(MESSAGE_OVERHEAD + estimate_tokens(text) for text in texts)


class TokenCounter:
    """Count tokens incrementally; `take` cuts text at a token limit.

    Counting character by character gives exactly `estimate_tokens` of the whole text:
    a non-CJK character starts a new token when the current run's length is a multiple of 4.
    """

    def __init__(self) -> None:
        self.count = 0
        self._run = 0

    def _cost(self, char: str) -> int:
        if is_cjk(char):
            self._run = 0
            return 1
        self._run += 1
        return 1 if self._run % 4 == 1 else 0

    def add(self, text: str) -> int:
        """Count `text` and return the running total (a run at a time: this is per chunk)."""
        start = 0
        for match in _CJK.finditer(text):
            self._add_run(match.start() - start)
            self.count += 1
            self._run = 0
            start = match.end()
        self._add_run(len(text) - start)
        return self.count

    def _add_run(self, length: int) -> None:
        if length:
            before = -(-self._run // 4)
            self._run += length
            self.count += -(-self._run // 4) - before

    def take(self, text: str, limit: int | None) -> tuple[str, bool]:
        """Count the longest prefix of `text` that keeps the total within `limit`.

        Returns the prefix and whether anything had to be cut.
        """
        if limit is None or self.count + len(text) <= limit:  # each char costs at most 1
            self.add(text)
            return text, False
        for index, char in enumerate(text):
            run = self._run
            cost = self._cost(char)
            if self.count + cost > limit:
                self._run = run
                return text[:index], True
            self.count += cost
        return text, False
