"""`ChatStream`: one `chat/ask` seen from the consumer's side.

The connection's reader thread puts events into the stream's queue; the consumer iterates
text chunks with first-token, idle and total deadlines. Whatever way the stream ends —
finish, error, timeout, cancel, consumer gone — it leaves its connection's registry and
gives its pool slot back, exactly once.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any
from typing import NoReturn

from . import methods
from .errors import LingmaCancelledError
from .errors import LingmaError
from .errors import LingmaTimeoutError
from .errors import finish_error
from .think import ThinkSplitter

log = logging.getLogger(__name__)

_CHUNK, _FINISH, _ERROR, _OVERWRITE, _THINK = "chunk", "finish", "error", "overwrite", "think"
_EVENT_COST = 64                 # bytes a queued event costs beyond its text (tuple, str header)
DEFAULT_BUFFER = 4 * 1024 * 1024

# A queued event: (kind, value) — text for chunk/think/overwrite, the params of a finish, or
# the LingmaError of an error; `_apply` tells them apart by kind.
_Event = tuple[str, Any]


@dataclasses.dataclass(frozen=True)
class Thought:
    """A piece of the model's reasoning, yielded by `events(reasoning=True)` before the text."""

    text: str


@dataclasses.dataclass(frozen=True)
class FinishRecord:
    """What Lingma's `chat/finish` said, plus the stream's latencies in milliseconds."""

    status_code: int | None
    reason: str
    full_answer: str
    session_id: str
    first_token_ms: int | None
    total_ms: int


@dataclasses.dataclass(frozen=True)
class Deadlines:
    """The three stream timeouts, in seconds."""

    first_token: float = 60.0
    idle: float = 60.0
    total: float = 600.0


class ChatStream:
    """Iterate the text of one Lingma answer; see docs/architecture.md for the contract."""

    def __init__(self, request_id: str, session_id: str, model_key: str | None, *,
                 deadlines: Deadlines = Deadlines(), stopper: Callable[[str, str], None] | None = None,
                 on_close: Callable[[ChatStream], None] | None = None, instance_name: str = "",
                 max_buffer: int = DEFAULT_BUFFER):
        self.request_id = request_id
        self.session_id = session_id
        self.model_key = model_key
        self.instance_name = instance_name
        self.ask_rpc_id: int | None = None  # the JSON-RPC id our chat/ask went out with
        self.context_usage: dict[str, int] | None = None  # {usedTokens, limitTokens}, if Lingma said
        self.deadlines = deadlines
        self._parts: list[str] = []      # the answer so far; joined on demand (appending is O(1))
        self.finish: FinishRecord | None = None
        self.error: LingmaError | None = None
        self.started = time.monotonic()
        self.first_token_at: float | None = None
        self._last_event = self.started
        self._queue: queue.Queue[_Event] = queue.Queue()
        self._stashed: _Event | None = None  # an event taken while coalescing, handled next
        self._think = ThinkSplitter()    # think fences inside answer text never reach `text`
        self._pushed_reasoning: list[str] = []  # reasoning sent as chat/think pushes
        self._thoughts: list[str] = []   # reasoning not yet handed to the consumer
        self._max_buffer = max_buffer    # bytes that may wait in the queue for a slow consumer
        self._queued_in = 0              # bytes queued (written by the producer only)
        self._queued_out = 0             # bytes taken (written by the consumer only)
        self._overflowed = False
        self._stopper = stopper          # callable(request_id, session_id): sends chat/stop
        self._on_close = on_close        # callable(stream): leave registry, free the slot
        self._closed = False
        self._close_lock = threading.Lock()

    # -- producer side (the reader thread) ------------------------------------------
    def push_answer(self, params: dict[str, Any]) -> None:
        """Queue a `chat/answer` push (called by the reader)."""
        text = params.get("text")
        if text is None:
            text = params.get("content")
        if not isinstance(text, str) or not text:
            return
        self._put(_OVERWRITE if params.get("overwrite") else _CHUNK, text)

    def push_think(self, params: dict[str, Any]) -> None:
        """Queue a `chat/think` push's text (called by the reader)."""
        text = params.get("text")
        if isinstance(text, str) and text:
            self._put(_THINK, text)

    def _put(self, kind: str, text: str) -> None:
        """Queue text unless the consumer has left too much unread: then stop the chat."""
        if self._overflowed:
            return
        self._queued_in += len(text) + _EVENT_COST
        if self._queued_in - self._queued_out <= self._max_buffer:
            self._queue.put((kind, text))
            return
        self._overflowed = True
        log.warning("request %s: the client is not reading the answer; stopping it", self.request_id)
        self._send_stop()
        self._queue.put((_ERROR, LingmaCancelledError(
            "the client did not read the answer fast enough (LINGMA_STREAM_BUFFER_BYTES)")))

    def push_finish(self, params: dict[str, Any]) -> None:
        """Queue a `chat/finish` push (called by the reader)."""
        self._queue.put((_FINISH, params))

    def push_error(self, error: LingmaError) -> None:
        """End the stream with `error` (connection lost, ask rejected, draining)."""
        self._queue.put((_ERROR, error))

    # -- consumer side ---------------------------------------------------------------
    @property
    def text(self) -> str:
        """The answer text received so far."""
        return "".join(self._parts)

    @property
    def reasoning(self) -> str:
        """The model's reasoning received so far (kept out of the answer text)."""
        return "".join(self._pushed_reasoning) + self._think.reasoning

    @property
    def done(self) -> bool:
        """True once the stream has ended, whichever way."""
        return self._closed

    def __iter__(self) -> Iterator[str]:
        for item in self.events(None):
            if isinstance(item, str):  # no keepalive ticks without `wait`, no thoughts without `reasoning`
                yield item

    def events(self, wait: float | None, coalesce: bool = False,
               reasoning: bool = False) -> Iterator[str | Thought | None]:
        """Yield chunks, and None after every `wait` seconds without one (a keepalive tick).

        With `coalesce`, chunks that have already arrived behind the one just taken are
        joined to it: nothing waits for more text, but a consumer that fell behind (a busy
        worker) catches up with one write instead of many. With `reasoning`, the model's
        reasoning is yielded too, as `Thought` items, ahead of the text that follows it.
        """
        try:
            while not self._closed:
                kind, value = self._next_event(wait)
                if kind is None:
                    yield None
                    continue
                chunk = self._apply(kind, value)
                if coalesce and kind == _CHUNK:
                    chunk = self._gather(chunk)
                thought = self._take_thoughts()
                if thought and reasoning:
                    yield Thought(thought)
                if chunk:
                    yield chunk
        finally:
            self.close()

    def _take_thoughts(self) -> str:
        thoughts = self._thoughts
        if not thoughts:
            return ""
        self._thoughts = []
        return "".join(thoughts)

    def _gather(self, chunk: str | None) -> str:
        parts = [chunk or ""]
        while True:
            try:
                kind, value = self._taken(self._queue.get_nowait())
            except queue.Empty:
                break
            if kind != _CHUNK:
                self._stashed = (kind, value)
                break
            parts.append(self._apply(kind, value) or "")
        return "".join(parts)

    def _taken(self, event: _Event) -> _Event:
        value = event[1]
        if isinstance(value, str):
            self._queued_out += len(value) + _EVENT_COST
        return event

    def _next_event(self, wait: float | None) -> _Event | tuple[None, None]:
        if self._stashed is not None:
            event, self._stashed = self._stashed, None
            return event
        try:
            return self._taken(self._queue.get_nowait())  # no timer needed when text is waiting
        except queue.Empty:
            pass
        while True:
            deadline, phase = self._deadline()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._time_out(phase)
            timeout = remaining if wait is None else min(wait, remaining)
            try:
                return self._taken(self._queue.get(timeout=timeout))
            except queue.Empty:
                if wait is not None and timeout == wait:
                    return None, None

    def _deadline(self) -> tuple[float, str]:
        total = (self.started + self.deadlines.total, "total")
        if self.first_token_at is None:
            step = (self.started + self.deadlines.first_token, "first_token")
        else:
            step = (self._last_event + self.deadlines.idle, "idle")
        return min(total, step)

    def _time_out(self, phase: str) -> NoReturn:
        limit = {"first_token": self.deadlines.first_token, "idle": self.deadlines.idle,
                 "total": self.deadlines.total}[phase]
        label = {"first_token": "no first token", "idle": "no new text",
                 "total": "the answer was not complete"}[phase]
        error = LingmaTimeoutError(f"Lingma timed out: {label} within {limit:g} s", phase=phase)
        self.error = error
        self.cancel()
        raise error

    def _apply(self, kind: str, value: Any) -> str | None:
        now = time.monotonic()
        self._last_event = now
        if kind == _CHUNK:
            if self.first_token_at is None:
                self.first_token_at = now
            text = self._think.feed(value)
            fenced = self._think.take_reasoning()
            if fenced:
                self._thoughts.append(fenced)
            if text:
                self._parts.append(text)
            return text
        if kind == _THINK:
            self._pushed_reasoning.append(value)
            self._thoughts.append(value)
            return None
        if kind == _OVERWRITE:
            return self._overwrite(value, now)
        if kind == _FINISH:
            return self._finish(value, now)
        self.error = value
        self.close()
        raise value

    def _overwrite(self, value: str, now: float) -> str | None:
        if self.first_token_at is None:
            self.first_token_at = now
        old, self._parts = self.text, [value]
        if value.startswith(old):
            return value[len(old):]
        log.warning("Lingma rewrote an answer already streamed (request %s)", self.request_id)
        return None

    def _finish(self, params: dict[str, Any], now: float) -> str | None:
        full_answer = params.get("fullAnswer")
        full = full_answer if isinstance(full_answer, str) else ""
        self.finish = FinishRecord(
            status_code=params.get("statusCode"),
            reason=str(params.get("reason") or ""),
            full_answer=full,
            session_id=str(params.get("sessionId") or self.session_id),
            first_token_ms=self._ms(self.first_token_at),
            total_ms=int((now - self.started) * 1000),
        )
        error = finish_error(params.get("statusCode"), params.get("reason"))
        if error is not None:
            self.error = error
            self._release()
            raise error
        self._release()
        rest = self._think.flush()
        self._thoughts.append(self._think.take_reasoning())
        if not self._parts and not rest and full:
            splitter = ThinkSplitter()
            rest = splitter.feed(full) + splitter.flush()
            self._pushed_reasoning.append(splitter.reasoning)
            self._thoughts.append(splitter.reasoning)
            if self.first_token_at is None:
                self.first_token_at = now
        if rest:
            self._parts.append(rest)
        return rest or None

    def _ms(self, at: float | None) -> int | None:
        return None if at is None else int((at - self.started) * 1000)

    def cancel(self, reason: str = "") -> None:
        """Tell Lingma to stop (`chat/stop`) and end the stream locally at once."""
        if self._closed:
            return
        if self.error is None:
            self.error = LingmaCancelledError(reason or "cancelled")
        self._send_stop()
        self._release()

    def _send_stop(self) -> None:
        stopper, self._stopper = self._stopper, None  # one chat/stop per stream at most
        if stopper is None:
            return
        try:
            stopper(self.request_id, self.session_id)
        except Exception as exc:  # the connection may be gone; ending locally is enough
            log.info("%s for %s not sent: %s", methods.CHAT_STOP, self.request_id, exc)

    def discard(self) -> None:
        """End a stream whose `chat/ask` never reached Lingma: free it, send no `chat/stop`."""
        self._stopper = None
        self.cancel("the chat was not sent")

    def close(self) -> None:
        """End the stream: cancel it if Lingma has not finished, then free its resources."""
        if not self._closed:
            self.cancel("consumer closed the stream")

    def _release(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        if self._on_close is not None:
            self._on_close(self)

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
