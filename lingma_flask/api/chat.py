"""POST /v1/chat/completions: the OpenAI chat completions face of the pipeline.

The view validates, starts the job (everything that can fail early leaves through the JSON
error handler), then answers with one `chat.completion` or a stream of
`chat.completion.chunk` frames: role chunk, content / `reasoning_content` / `tool_calls`
chunks as they come, the finish chunk, the usage chunk if asked, `[DONE]`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint

from ..pipeline import events
from ..pipeline import job as pipeline
from ..pipeline.tools.freeform import freeform_names
from ..web import sse
from ..web.auth import require_api_key
from ..web.limits import admit
from ..web.requestlog import current_record
from .chat_request import parse_chat_request
from .chat_shapes import Completion
from .chat_shapes import tool_call_object
from .chat_shapes import usage_object
from .face import answer_headers
from .face import collect_answer
from .face import context
from .face import read_json_body
from .face import stream_answer

log = logging.getLogger(__name__)

bp = Blueprint("chat", __name__)
bp.before_request(require_api_key)


@bp.post("/v1/chat/completions")
@bp.post("/chat/completions")
def create_chat_completion():
    """Answer a chat completion, streamed as SSE or as one JSON object."""
    chat, include_usage = parse_chat_request(read_json_body())
    if chat.ignored:
        log.debug("fields accepted but not forwarded: %s", ", ".join(chat.ignored))
    record = current_record()
    record.stream = chat.stream
    admit(record)
    job = pipeline.start(chat, record, context())
    completion = Completion(job.target.name, custom_tools=freeform_names(chat.tools))
    if not chat.stream:
        return completion_body(completion, collect_answer(job)), 200, answer_headers(job)
    return stream_answer(job, ChunkEncoder(completion, include_usage), answer_headers(job))


def completion_body(completion: Completion, result: pipeline.Result) -> dict:
    """Return the `chat.completion` object of a whole answer."""
    message: dict[str, object] = {"role": "assistant", "content": result.content or None, "refusal": None}
    if not result.calls:
        message["content"] = result.content
    else:
        message["tool_calls"] = [tool_call_object(call, completion.custom_tools)
                                 for call in result.calls]
    if result.reasoning:
        message["reasoning_content"] = "".join(result.reasoning)
    return completion.message(message, result.finish.reason, usage_object(result.finish.usage))


class ChunkEncoder:
    """Encode the common events as `chat.completion.chunk` SSE frames."""

    def __init__(self, completion: Completion, include_usage: bool):
        self.completion = completion
        self.include_usage = include_usage
        self.content = sse.template(completion.chunk({"content": sse.SLOT}))
        self._reasoning: Callable[..., bytes] | None = None  # made at the first reasoning: most answers have none

    def open(self):
        """The role chunk, at once."""
        yield sse.encode(self.completion.role_chunk())

    def event(self, event):
        """Frames for one event."""
        if event is events.KEEPALIVE:
            yield sse.KEEPALIVE
        elif isinstance(event, events.Text):
            yield self.content(event.text)
        elif isinstance(event, events.Reasoning):
            if self._reasoning is None:
                self._reasoning = sse.template(self.completion.chunk({"reasoning_content": sse.SLOT}))
            yield self._reasoning(event.text)
        elif isinstance(event, events.Calls):
            for index, call in enumerate(event.calls):
                entry = tool_call_object(call, self.completion.custom_tools)
                delta = {"tool_calls": [{"index": index, **entry}]}
                yield sse.encode(self.completion.chunk(delta))
        elif isinstance(event, events.Finish):
            yield from self._finish(event)

    def _finish(self, finish: events.Finish):
        yield sse.encode(self.completion.chunk({}, finish.reason))
        if self.include_usage:
            yield sse.encode(self.completion.usage_chunk(usage_object(finish.usage)))
        yield sse.DONE

    def fail(self, error):
        """One error frame ends the stream (the SDK raises on it)."""
        yield sse.encode(error.body())
