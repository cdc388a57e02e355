"""The gateway's own finish rules: stop strings and the max_tokens limit, applied to chunks.

Lingma knows neither, so the gateway cuts the answer itself and the caller then cancels the
Lingma stream. Pure: no I/O.
"""

from __future__ import annotations

from .tokens import TokenCounter

LONG_HOLD = 256   # from this hold-back on, new text is searched in batches, not chunk by chunk


class OutputFilter:
    """Feed answer chunks in; get back the text to send and, once, a finish reason.

    While streaming, the last len(longest stop) - 1 characters are held back so a stop string
    split across chunks is still caught. Output always ends *before* a stop string. Only text
    that a new stop could end in is searched again. With long stop strings (a client's to
    choose) new text is searched once a quarter of the hold-back has come, not at every chunk:
    rescanning a long hold-back per chunk made the cost chunks x stop length.
    """

    def __init__(self, stops: tuple[str, ...] = (), max_tokens: int | None = None):
        self.stops = tuple(s for s in stops if s)
        self.max_tokens = max_tokens
        self.counter = TokenCounter()
        self.finish_reason: str | None = None
        self.stop_sequence: str | None = None   # the stop string that ended the answer
        self._hold = max((len(s) for s in self.stops), default=1) - 1
        self._batch = self._hold // 4 if self._hold >= LONG_HOLD else 0
        self._tail = ""            # held back and searched: no stop string inside
        self._fresh: list[str] = []  # not searched yet
        self._fresh_len = 0

    @property
    def completion_tokens(self) -> int:
        """Return the estimated tokens of everything released so far."""
        return self.counter.count

    def feed(self, chunk: str) -> str:
        """Take one chunk; return the text that may be sent now ('' if none)."""
        if self.finish_reason:
            return ""
        self._fresh.append(chunk)
        self._fresh_len += len(chunk)
        return self._search() if self._fresh_len > self._batch else ""

    def flush(self) -> str:
        """End of the answer: release the held tail and settle the finish reason."""
        text = self._search() if self._fresh and not self.finish_reason else ""
        if not self.finish_reason:
            text += self._release(self._tail, None)
        self._tail = ""
        self.finish_reason = self.finish_reason or "stop"
        return text

    def resume(self) -> None:
        """Take more text after `flush()`: the answer goes on (a repair turn's text in a stream).

        Only an answer that simply ended resumes; one cut by a stop string or the token limit
        stays finished.
        """
        if self.finish_reason == "stop" and self.stop_sequence is None:
            self.finish_reason = None

    def _search(self) -> str:
        """Look for a stop string in the new text; return what is now safe to send."""
        searched = len(self._tail)
        buffer = self._tail + "".join(self._fresh)
        self._fresh, self._fresh_len = [], 0
        found = self._find_stop(buffer, searched)
        if found is not None:
            cut, stop = found
            self._tail = ""
            text = self._release(buffer[:cut], "stop")
            if self.finish_reason == "stop":
                self.stop_sequence = stop
            return text
        keep = min(self._hold, len(buffer))
        self._tail = buffer[len(buffer) - keep:]
        return self._release(buffer[:len(buffer) - keep], None)

    def _find_stop(self, buffer: str, searched: int) -> tuple[int, str] | None:
        """Return the earliest stop string's position and the stop (the first listed on a tie).

        buffer[:searched] holds no stop string: a match must end after it.
        """
        found = ((buffer.find(s, max(0, searched - len(s) + 1)), s) for s in self.stops)
        return min((f for f in found if f[0] >= 0), key=lambda f: f[0], default=None)

    def _release(self, text: str, reason: str | None) -> str:
        text, cut = self.counter.take(text, self.max_tokens)
        if cut:
            self.finish_reason = "length"
        elif reason:
            self.finish_reason = reason
        return text
