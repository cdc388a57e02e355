"""Scan Qwen3-Coder XML calls in linear time: `<function=N><parameter=P>v</parameter></function>`.

The grammar is the one two regexes used to read (`<function=\\s*["']?([^>"'\\s]*)["']?\\s*>`
then the body up to `</function>` or the end; `<parameter=\\s*["']?([^>"']*?)["']?\\s*>`
then the value up to `</parameter>`, the next `<parameter=` or the end), but read by
scanning: those regexes backtracked cubically on a run of spaces, and every failed
`<function=` or `<parameter=` started a new scan to a far `>`. Here each "first X at or
after" search remembers its last answer (`Seek`), so the whole text is read a bounded number
of times whatever it holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterator

FUNCTION_OPEN = "<function="
FUNCTION_CLOSE = "</function>"
PARAMETER_OPEN = "<parameter="
PARAMETER_CLOSE = "</parameter>"
QUOTES = "\"'"
_NON_SPACE = re.compile(r"\S")
_NAME_END = re.compile(r"[>\"'\s]")   # what ends a function name


class Seek:
    """The first hit of a search at or after a position; free again while positions grow.

    `search(pos)` returns the first hit at or after pos, or len(text) if there is none. The last
    answer is reused whenever pos lies between the position it was asked for and the hit: no
    hit lies in between, so it is still the first.
    """

    def __init__(self, text: str, search: Callable[[int], int]):
        self._search, self._end = search, len(text)
        self._asked, self._found = 1, 0   # nothing known yet

    @classmethod
    def literal(cls, text: str, needle: str) -> Seek:
        """Seek a fixed string."""
        def search(pos: int) -> int:
            found = text.find(needle, pos)
            return len(text) if found == -1 else found
        return cls(text, search)

    @classmethod
    def pattern(cls, text: str, pattern: re.Pattern) -> Seek:
        """Seek a one-character pattern (a class: it cannot backtrack)."""
        def search(pos: int) -> int:
            match = pattern.search(text, pos)
            return len(text) if match is None else match.start()
        return cls(text, search)

    def __call__(self, pos: int) -> int:
        """Return the first hit at or after pos (len(text) if none)."""
        if not self._asked <= pos <= self._found:
            self._asked, self._found = pos, self._search(min(pos, self._end))
        return self._found


def functions(text: str) -> Iterator[tuple[str, str]]:
    """Yield (name, body) for each `<function=NAME>`; a body ends at `</function>` or the end."""
    opens, closes = Seek.literal(text, FUNCTION_OPEN), Seek.literal(text, FUNCTION_CLOSE)
    header = _FunctionHeader(text)
    pos = 0
    while (start := opens(pos)) < len(text):
        found = header.read(start + len(FUNCTION_OPEN))
        if found is None:
            pos = start + 1
            continue
        name, body_start = found
        end = closes(body_start)
        yield name, text[body_start:end]
        pos = end + len(FUNCTION_CLOSE)


class _FunctionHeader:
    """Read `\\s* ["']? NAME ["']? \\s* >` after `<function=`: NAME has no quote, space or `>`."""

    def __init__(self, text: str):
        self.text = text
        self.spaces_from = Seek.pattern(text, _NON_SPACE)
        self.name_ends = Seek.pattern(text, _NAME_END)
        self.spaces_after = Seek.pattern(text, _NON_SPACE)   # its own: asked at other positions

    def read(self, pos: int) -> tuple[str, int] | None:
        """Return (name, where the body starts), or None when no header starts at pos."""
        text = self.text
        start = _after_quote(text, self.spaces_from(pos))
        end = self.name_ends(start)
        close = self.spaces_after(_after_quote(text, end))
        if close < len(text) and text[close] == ">":
            return text[start:end], close + 1
        return None


def _after_quote(text: str, pos: int) -> int:
    """Return pos, or the position after it when a quote is there."""
    return pos + 1 if pos < len(text) and text[pos] in QUOTES else pos


def parameters(body: str) -> dict[str, str]:
    """Return a function body's parameters, name (stripped) to raw value; a later one wins.

    A value ends at `</parameter>`, at the next `<parameter=` (a missing closing tag), or at
    the end of the body.
    """
    opens, closes = Seek.literal(body, PARAMETER_OPEN), Seek.literal(body, PARAMETER_CLOSE)
    next_opens = Seek.literal(body, PARAMETER_OPEN)   # its own: asked at other positions
    header = _ParameterHeader(body)
    arguments, pos = {}, 0
    while (start := opens(pos)) < len(body):
        found = header.read(start + len(PARAMETER_OPEN))
        if found is None:
            pos = start + 1
            continue
        name, value_start = found
        close, following = closes(value_start), next_opens(value_start)
        end = min(close, following)
        arguments[name] = body[value_start:end]
        pos = end + len(PARAMETER_CLOSE) if close < following else end
    return arguments


class _ParameterHeader:
    """Read `\\s* ["']? NAME ["']? \\s* >` after `<parameter=`: NAME may hold spaces, not `"'>`.

    The header runs to the first `>`. The quotes in it are found once per `>` (the last two
    before it), since failed headers sharing a far `>` must not each rescan the way there.
    """

    def __init__(self, body: str):
        self.body = body
        self.closes, self.spaces = Seek.literal(body, ">"), Seek.pattern(body, _NON_SPACE)
        self.gt = self.since = -1
        self.quotes: tuple[int, int] = (-1, -1)   # the last quote before gt, the one before it
        self.quote_then_spaces = False            # only spaces between the last quote and gt

    def read(self, pos: int) -> tuple[str, int] | None:
        """Return (name, where the value starts), or None when no header starts at pos."""
        gt = self.closes(pos)
        if gt == len(self.body):
            return None
        if gt != self.gt or pos < self.since:
            self._find_quotes(pos, gt)
        span = self._name_span(pos, gt)
        return None if span is None else (self.body[span[0]:span[1]].strip(), gt + 1)

    def _find_quotes(self, pos: int, gt: int) -> None:
        body = self.body
        last = max(body.rfind('"', pos, gt), body.rfind("'", pos, gt))
        before = max(body.rfind('"', pos, last), body.rfind("'", pos, last)) if last >= 0 else -1
        self.gt, self.since, self.quotes = gt, pos, (last, before)
        self.quote_then_spaces = last >= 0 and _NON_SPACE.search(body, last + 1, gt) is None

    def _name_span(self, pos: int, gt: int) -> tuple[int, int] | None:
        """Return where the name lies in the header from pos to gt, or None if it is not one.

        The header may hold a quote first (after spaces) and one last (before spaces), no other.
        """
        first = self.spaces(pos)
        opening = first if first < gt and self.body[first] in QUOTES else -1
        last, before = self.quotes
        if last < pos:
            return pos, gt
        if last == opening:
            return opening + 1, gt
        if not self.quote_then_spaces or pos <= before != opening:
            return None   # a quote inside the name, or text after the closing quote
        return (opening + 1 if before >= pos else pos), last
