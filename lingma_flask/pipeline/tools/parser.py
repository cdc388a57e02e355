"""Split a streamed answer into prose and tool-call blocks, whatever the chunk boundaries.

Prose is released at once; only a tail that could still grow into an opening tag is held
back. A block is `<tool_call>` ... `</tool_call>` (Qwen JSON, fenced or lenient JSON, or
Qwen3-Coder XML inside), or a bare `<function=...>` ... `</function>`. The closing tag ends
a block only outside a JSON string or an XML parameter value, so values may mention it. One
newline right after a closing tag belongs to the block's layout and is dropped; a stray
`</tool_call>` outside any block is dropped too.
"""

from __future__ import annotations

import re

from .payload import decode_block
from .pieces import Broken
from .pieces import Call
from .pieces import Piece
from .pieces import Text

__all__ = ["Broken", "Call", "CallParser", "Piece", "Text"]

OPEN = "<tool_call>"
CLOSE = "</tool_call>"
FUNCTION_OPEN = "<function="
FUNCTION_CLOSE = "</function>"
PARAMETER_OPEN = "<parameter="
PARAMETER_CLOSE = "</parameter>"
OUTSIDE_TAGS = (OPEN, FUNCTION_OPEN, CLOSE)
XML_TAGS = (PARAMETER_OPEN, PARAMETER_CLOSE, FUNCTION_CLOSE, CLOSE)
LONGEST_TAG = max(len(tag) for tag in OUTSIDE_TAGS + XML_TAGS)
OUTSIDE_START = re.compile("|".join(re.escape(tag) for tag in OUTSIDE_TAGS))
JSON_STOP = re.compile(r"[\"'<]")
STRING_STOP = {'"': re.compile(r'[\\"]'), "'": re.compile(r"[\\']")}
NOT_CLOSED = "the tool call block was not closed before the answer ended"


def held_from(text: str, tags: tuple[str, ...] = OUTSIDE_TAGS) -> int:
    """Return where the tail that could still become one of `tags` starts (len(text) if none)."""
    index = text.find("<", max(0, len(text) - LONGEST_TAG + 1))
    while index != -1:
        tail = text[index:]
        if any(tag.startswith(tail) for tag in tags):
            return index
        index = text.find("<", index + 1)
    return len(text)


def tag_at(text: str, index: int, tags: tuple[str, ...]) -> tuple[str | None, bool]:
    """Return the tag at index, and whether the text ends in what may still become one."""
    for tag in tags:
        if text.startswith(tag, index):
            return tag, False
    if len(text) - index >= LONGEST_TAG:
        return None, False
    tail = text[index:]
    return None, any(tag.startswith(tail) for tag in tags)


class _Block:
    """The inside of one open block, scanned as it arrives for its closing tag."""

    def __init__(self, opener: str, plain: bool = False):
        self.opener = opener
        self.closer = CLOSE if opener == OPEN else FUNCTION_CLOSE
        self.style = "plain" if plain else None if opener == OPEN else "xml"
        self.scanned: list[str] = []
        self.pending = ""
        self.quote: str | None = None
        self.in_parameter = False

    def text(self) -> str:
        """Return everything received after the opening tag."""
        return "".join(self.scanned) + self.pending

    def feed(self, chunk: str) -> tuple[str, str] | None:
        """Scan more text; return (inside, rest after the closing tag) once the block closed."""
        text = self.pending + chunk
        self.pending = ""
        if self.style is None:
            stripped = text.lstrip()
            if not stripped:
                self.scanned.append(text)
                return None
            self.style = "xml" if stripped[0] == "<" else "json"
        stop, end = self._SCANS[self.style](self, text)
        if end is not None:
            return "".join(self.scanned) + text[:stop], text[end:]
        self.scanned.append(text[:stop])
        self.pending = text[stop:]
        return None

    def _scan_json(self, text: str) -> tuple[int, int | None]:
        """Find the closer outside JSON strings: (closer start, its end), or (held from, None)."""
        index = 0
        while True:
            if self.quote:
                match = STRING_STOP[self.quote].search(text, index)
                if match is None:
                    return len(text), None
                index = match.start()
                if text[index] == "\\":
                    if index + 1 == len(text):
                        return index, None
                    index += 2
                    continue
                self.quote = None
                index += 1
                continue
            match = JSON_STOP.search(text, index)
            if match is None:
                return len(text), None
            index = match.start()
            if text[index] != "<":
                self.quote = text[index]
                index += 1
                continue
            tag, partial = tag_at(text, index, (self.closer,))
            if tag:
                return index, index + len(tag)
            if partial:
                return index, None
            index += 1

    def _scan_xml(self, text: str) -> tuple[int, int | None]:
        """Find the closer outside parameter values, as _scan_json does."""
        index = text.find("<")
        while index != -1:
            tag, partial = tag_at(text, index, XML_TAGS)
            if partial:
                return index, None
            if tag == PARAMETER_OPEN:
                self.in_parameter = True
            elif tag in (PARAMETER_CLOSE, FUNCTION_CLOSE):
                self.in_parameter = False
            if tag == self.closer and not (tag == CLOSE and self.in_parameter):
                return index, index + len(tag)
            index = text.find("<", index + (len(tag) if tag else 1))
        return len(text), None

    def _scan_plain(self, text: str) -> tuple[int, int | None]:
        """Find the first closer, wherever it is, as _scan_json does."""
        index = text.find(self.closer)
        if index != -1:
            return index, index + len(self.closer)
        return held_from(text, (self.closer,)), None

    _SCANS = {"json": _scan_json, "xml": _scan_xml, "plain": _scan_plain}


class CallParser:
    """A streaming parser of one answer: feed() its chunks in order, then close() once."""

    def __init__(self) -> None:
        self._held = ""
        self._block: _Block | None = None
        self._drop_newline = False
        self._plain = False

    def feed(self, chunk: str) -> list[Piece]:
        """Return the pieces this chunk completes; prose comes back at once."""
        if not self._held and self._block is None and not self._drop_newline and "<" not in chunk:
            return [Text(chunk)] if chunk else []
        return self._scan(chunk)

    def close(self) -> list[Piece]:
        """Return the last pieces: held prose, or a block that never closed."""
        pieces: list[Piece] = []
        while self._block is not None:
            block, self._block = self._block, None
            inside = block.text()
            end = inside.find(block.closer)
            if end == -1:
                return pieces + [Broken(block.opener + inside, NOT_CLOSED)]
            # The scan missed the closer (an unbalanced quote in broken JSON, say): the first
            # closing tag ends the block after all. The rest is read with blocks ending at their
            # first closer too: rescanning it the careful way could repeat for every block.
            pieces += self._decode(block, inside[:end])
            self._drop_newline = True
            self._plain = True
            pieces += self._scan(inside[end + len(block.closer):])
        held, self._held = self._held, ""
        return pieces + [Text(held)] if held else pieces

    def _scan(self, chunk: str) -> list[Piece]:
        pieces: list[Piece] = []
        text = self._held + chunk
        self._held = ""
        while text:
            if self._block is not None:
                found = self._block.feed(text)
                if found is None:
                    break
                pieces += self._decode(self._block, found[0])
                self._block = None
                text = found[1]
                self._drop_newline = True
                continue
            text = self._outside(text, pieces)
        return pieces

    def _outside(self, text: str, pieces: list[Piece]) -> str:
        """Release prose up to the next tag, open a block there, and return the rest."""
        if self._drop_newline:
            self._drop_newline = False
            text = text[1:] if text.startswith("\n") else text
        match = OUTSIDE_START.search(text)
        if match is None:
            cut = held_from(text)
            self._held = text[cut:]
            _add_text(pieces, text[:cut])
            return ""
        _add_text(pieces, text[:match.start()])
        if match.group() == CLOSE:
            self._drop_newline = True
        else:
            self._block = _Block(match.group(), self._plain)
        return text[match.end():]

    @staticmethod
    def _decode(block: _Block, inside: str) -> list[Piece]:
        raw = block.opener + inside + block.closer
        return decode_block(raw, raw if block.opener == FUNCTION_OPEN else inside)


def _add_text(pieces: list[Piece], text: str) -> None:
    if text:
        pieces.append(Text(text))
