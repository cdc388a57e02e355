"""Reasoning fenced inside answer text, as Qoder-CN-era Lingma builds stream it (protocol 3.12).

Those builds put the model's thinking into `chat/answer.text` between a start line
```` ```think::<anything> ```` and a closing ```` ``` ```` line. `ThinkSplitter` takes the chunks
as they come (a marker may be cut across chunks) and returns only the answer text, keeping
the reasoning aside, so markers never reach a client's `content`.
"""

from __future__ import annotations

START = "```think::"
END = "\n```"


def _partial_suffix(text: str, marker: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `marker`."""
    for size in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0


class ThinkSplitter:
    """Split streamed text into answer and reasoning; hold back only a possible partial marker."""

    def __init__(self) -> None:
        self._reasoning: list[str] = []
        self._taken = 0          # how many reasoning pieces `take_reasoning` has handed out
        self._buf = ""
        self._thinking = False
        self._after_end = False  # the newline that ends a closing fence may come in the next chunk
        self._line: list[str] | None = None  # a start line's pieces, until its newline comes

    @property
    def reasoning(self) -> str:
        """The reasoning text split off so far."""
        return "".join(self._reasoning)

    def take_reasoning(self) -> str:
        """Return the reasoning split off since the last call (for streaming it as it comes)."""
        if self._taken == len(self._reasoning):
            return ""  # the usual case, once per chunk: nothing new, nothing to copy
        new = self._reasoning[self._taken:]
        self._taken = len(self._reasoning)
        return "".join(new)

    def feed(self, text: str) -> str:
        """Take one chunk; return the answer text that can be released now."""
        if self._line is not None:
            # a start line is cut across chunks: keep the pieces, and look at each once
            self._line.append(text)
            if "\n" not in text:
                return ""
            text, self._line = "".join(self._line), None
        if not (self._buf or self._thinking or self._after_end or "`" in text or text.endswith("\n")):
            return text  # the common case: nothing that could start a marker
        self._buf += text
        if self._after_end and self._buf:
            self._buf = self._buf[1:] if self._buf.startswith("\n") else self._buf
            self._after_end = False
        out: list[str] = []
        while self._step(out):
            pass
        return "".join(out)

    def _step(self, out: list[str]) -> bool:
        if self._thinking:
            end = self._buf.find(END)
            if end < 0:
                keep = _partial_suffix(self._buf, END)
                self._reasoning.append(self._buf[:len(self._buf) - keep])
                self._buf = self._buf[len(self._buf) - keep:]
                return False
            self._reasoning.append(self._buf[:end])
            rest = self._buf[end + len(END):]
            self._buf, self._thinking = rest[1:] if rest.startswith("\n") else rest, False
            self._after_end = not rest
            return True
        start = self._buf.find(START)
        if start < 0:
            keep = max(_partial_suffix(self._buf, START), _partial_suffix(self._buf, "\n" + START))
            out.append(self._buf[:len(self._buf) - keep])
            self._buf = self._buf[len(self._buf) - keep:]
            return False
        line_end = self._buf.find("\n", start)
        before = self._buf[:start]
        if line_end < 0:  # wait for the rest of the start line (and keep the newline before it)
            cut = start - 1 if before.endswith("\n") else start
            out.append(self._buf[:cut])
            self._line, self._buf = [self._buf[cut:]], ""
            return False
        out.append(before[:-1] if before.endswith("\n") else before)
        self._buf, self._thinking = self._buf[line_end + 1:], True
        return True

    def flush(self) -> str:
        """Return whatever is still held back, at the end of the stream."""
        rest, self._buf = "".join(self._line or ()) + self._buf, ""
        self._line = None
        if self._thinking:
            self._reasoning.append(rest)
            return ""
        return rest
