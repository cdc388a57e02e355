"""Encode the common events as the Responses API's SSE stream (Codex, `client.responses.*`).

Every frame is `event: <type>` plus `data: <json>` whose `type` is the event name and whose
`sequence_number` counts from 0. Order: `response.created`, `response.in_progress`; then each
output item in turn — a `reasoning` item (summary part and text deltas) while Lingma reasons,
a `message` item (one `output_text` part, a delta per chunk) while it answers, one
`function_call` item per call (its arguments in one `response.function_call_arguments.delta`
and `.done`), or a `custom_tool_call` item for a custom tool (its input in one
`response.custom_tool_call_input.delta` and `.done`) — each opened with
`response.output_item.added` and closed with `response.output_item.done` carrying the whole
item, which is what Codex acts on; finally `response.completed` (or
`response.incomplete`) with the whole response. A failure after the start is one
`response.failed`. No `[DONE]`.

While Lingma is quiet, each keepalive interval sends a `: keepalive` comment (for proxies) and
a repeated `response.in_progress` event: Codex resets its idle timer only on events, not on
comments.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from collections.abc import Iterator

from ..pipeline import events
from ..pipeline.tools.freeform import call_input
from ..web import sse
from .responses_shapes import ResponseHead
from .responses_shapes import custom_tool_call_item
from .responses_shapes import failure_error
from .responses_shapes import function_call_item
from .responses_shapes import message_item
from .responses_shapes import new_id
from .responses_shapes import output_text_part
from .responses_shapes import reasoning_item
from .responses_shapes import status_of
from .responses_shapes import summary_part
from .responses_shapes import usage_object


class Sequencer:
    """Numbers and encodes the frames of one stream."""

    def __init__(self):
        self.number = 0

    def frame(self, kind: str, payload: dict) -> str:
        """Encode one event with the next sequence number."""
        number, self.number = self.number, self.number + 1
        return sse.encode({"type": kind, **payload, "sequence_number": number}, event=kind)

    def deltas(self, kind: str, payload: dict) -> Callable[[str], bytes]:
        """Return `fill(delta)`: the event with `delta` added, encoded once but for the text and
        the sequence number."""
        fill = sse.template({"type": kind, **payload, "delta": sse.SLOT,
                             "sequence_number": sse.SLOT}, event=kind)

        def numbered(delta: str) -> bytes:
            number, self.number = self.number, self.number + 1
            return fill(delta, number)
        return numbered


class ItemWriter(abc.ABC):
    """One output item whose single part carries text as it streams: its events, its text.

    A kind of item names its events (`TEXT` and `PART` less their last word), the key of its
    part's index (`PLACE`), and builds its item with `shape(id, text, status)` and its part
    with `part(text)`.
    """

    PREFIX = PLACE = TEXT = PART = ""
    EXTRA: dict = {}     # fields the text events carry besides the text

    def __init__(self, seq: Sequencer, index: int):
        self.seq, self.index, self.id = seq, index, new_id(self.PREFIX)
        self.texts: list[str] = []
        self.where = {"item_id": self.id, "output_index": index, self.PLACE: 0}
        self.delta = seq.deltas(self.TEXT + ".delta", {**self.where, **self.EXTRA})

    @abc.abstractmethod
    def shape(self, item_id: str, text: str | None, status: str) -> dict:
        """The item of this kind (`text` None: no part yet)."""

    @abc.abstractmethod
    def part(self, text: str) -> dict:
        """The part of this kind."""

    def opening(self) -> Iterator[str]:
        """The item and its empty part."""
        item = self.shape(self.id, None, "in_progress")
        yield self.seq.frame("response.output_item.added", {"output_index": self.index,
                                                            "item": item})
        yield self.seq.frame(self.PART + ".added", {**self.where, "part": self.part("")})

    def write(self, text: str) -> bytes:
        """One text delta."""
        self.texts.append(text)
        return self.delta(text)

    def item(self, status: str) -> dict:
        """The whole item."""
        return self.shape(self.id, "".join(self.texts), status)

    def closing(self, status: str) -> Iterator[str]:
        """The text, the part and the item, done."""
        text = "".join(self.texts)
        yield self.seq.frame(self.TEXT + ".done", {**self.where, "text": text, **self.EXTRA})
        yield self.seq.frame(self.PART + ".done", {**self.where, "part": self.part(text)})
        yield self.seq.frame("response.output_item.done",
                             {"output_index": self.index, "item": self.item(status)})


class MessageWriter(ItemWriter):
    """One `message` output item: a single `output_text` part."""

    PREFIX, PLACE, EXTRA = "msg_", "content_index", {"logprobs": []}
    TEXT, PART = "response.output_text", "response.content_part"
    shape = staticmethod(message_item)
    part = staticmethod(output_text_part)


class ReasoningWriter(ItemWriter):
    """One `reasoning` output item whose single summary part carries Lingma's reasoning."""

    PREFIX, PLACE = "rs_", "summary_index"
    TEXT, PART = "response.reasoning_summary_text", "response.reasoning_summary_part"
    part = staticmethod(summary_part)

    @staticmethod
    def shape(item_id: str, text: str | None, status: str) -> dict:
        """Return the reasoning item (reasoning items carry no status)."""
        return reasoning_item(item_id, text)


class ResponseEncoder:
    """Encode one job's events; `on_finish(text, calls)` is told the answer before the end."""

    def __init__(self, head: ResponseHead, on_finish: Callable[[str, tuple], None]):
        self.head = head
        self.on_finish = on_finish
        self.seq = Sequencer()
        self.output: list[dict] = []
        self.current: ItemWriter | None = None
        self.texts: list[str] = []
        self.calls: tuple = ()

    def open(self) -> Iterator[str]:
        """`response.created` and `response.in_progress`, at once."""
        snapshot = self.head.object("in_progress")
        yield self.seq.frame("response.created", {"response": snapshot})
        yield self.seq.frame("response.in_progress", {"response": snapshot})

    def event(self, event) -> Iterator:
        """Frames for one event."""
        if event is events.KEEPALIVE:
            yield sse.KEEPALIVE
            yield self.seq.frame("response.in_progress",
                                 {"response": self.head.object("in_progress", self.output)})
        elif isinstance(event, events.Text) and event.text:
            self.texts.append(event.text)
            yield from self._write(MessageWriter, event.text)
        elif isinstance(event, events.Reasoning) and event.text:
            yield from self._write(ReasoningWriter, event.text)
        elif isinstance(event, events.Calls):
            yield from self._close("completed")
            for call in event.calls:
                yield from self._call(call)
        elif isinstance(event, events.Finish):
            yield from self._finish(event)

    def fail(self, error) -> Iterator[str]:
        """One `response.failed` ends the stream; the output so far comes with it."""
        output = self.output + ([self.current.item("incomplete")] if self.current else [])
        response = self.head.object("failed", output, error=failure_error(error))
        yield self.seq.frame("response.failed", {"response": response})

    def _write(self, kind: type[ItemWriter], text: str) -> Iterator:
        current = self.current
        if not isinstance(current, kind):
            yield from self._close("completed")
            current = self.current = kind(self.seq, len(self.output))
            yield from current.opening()
        yield current.write(text)

    def _close(self, status: str) -> Iterator[str]:
        if self.current is not None:
            yield from self.current.closing(status)
            self.output.append(self.current.item(status))
            self.current = None

    def _call(self, call) -> Iterator[str]:
        index = len(self.output)
        shape: Callable[..., dict]
        if call.name in self.head.custom_tools:
            item_id, text, shape = new_id("ctc_"), call_input(call), custom_tool_call_item
            kind, field = "response.custom_tool_call_input", "input"
        else:
            item_id, text, shape = new_id("fc_"), call.arguments_json(), function_call_item
            kind, field = "response.function_call_arguments", "arguments"
        where = {"item_id": item_id, "output_index": index}
        yield self.seq.frame("response.output_item.added", {
            "output_index": index, "item": shape(item_id, call, "in_progress", "")})
        yield self.seq.frame(kind + ".delta", {**where, "delta": text})
        yield self.seq.frame(kind + ".done", {**where, field: text})
        item = shape(item_id, call, "completed")
        yield self.seq.frame("response.output_item.done", {"output_index": index, "item": item})
        self.output.append(item)
        self.calls += (call,)

    def _finish(self, finish: events.Finish) -> Iterator[str]:
        status, incomplete = status_of(finish.reason)
        yield from self._close("completed" if status == "completed" else "incomplete")
        self.on_finish("".join(self.texts), self.calls)
        response = self.head.object(status, self.output, usage_object(finish.usage),
                                    incomplete=incomplete)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        yield self.seq.frame(kind, {"response": response})
