"""POST /v1/messages and /v1/messages/count_tokens: the Anthropic Messages face of the pipeline.

A message is answered as one `message` object or as the event stream Claude Code and the
`anthropic` SDK parse: `message_start`, content blocks with contiguous indices (thinking with
its signature, text, one `tool_use` per call), `message_delta` with the stop reason and usage,
`message_stop`; `ping` while Lingma is quiet; `error` ends a failed stream. A block is always
started before its first delta and stopped once; an open block is abandoned on an error.
Errors use Anthropic's envelope `{"type": "error", "error": {"type", "message"}}`. A body with
`thread` is answered as its whole thread (`anthropic_threads.py`), and the answer is kept under
its message id once it has succeeded.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from collections.abc import Generator

from flask import Blueprint

from ..extension import get_pool
from ..extension import get_settings
from ..ids import hex_id
from ..lingma.errors import LingmaError
from ..lingma.errors import LingmaPromptTooLargeError
from ..pipeline import events
from ..pipeline import job as pipeline
from ..pipeline.context_guard import ContextWindowExceeded
from ..pipeline.conversation import ChatRequest
from ..pipeline.prompt import PromptTooLong
from ..pipeline.prompt import render_prompt
from ..web import envelope
from ..web import errors
from ..web import sse
from ..web.auth import require_api_key
from ..web.errors import ApiError
from ..web.limits import admit
from ..web.requestlog import current_record
from . import anthropic_threads as threads
from .anthropic_request import Options
from .anthropic_request import parse_messages_request
from .face import answer_headers
from .face import check_model
from .face import collect_answer
from .face import context
from .face import read_json_body
from .face import stream_answer
from .state import owner as key_owner

log = logging.getLogger(__name__)

bp = Blueprint("anthropic", __name__)
bp.before_request(require_api_key)
bp.record_once(lambda state: state.app.extensions.setdefault(threads.STORE_KEY,
                                                             threads.new_store()))

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                "content_filter": "refusal"}


@bp.post("/v1/messages")
def create_message():
    """Answer a message, streamed as SSE events or as one `message` object."""
    data, store, owner = read_json_body(), threads.get_store(), key_owner()
    thread = threads.open_thread(data, store, owner, get_settings().max_body_bytes)
    chat, options = parse_messages_request(thread.body if thread else data)
    if chat.ignored:
        log.debug("fields accepted but not forwarded: %s", ", ".join(chat.ignored))
    record = current_record()
    record.stream = chat.stream
    admit(record)
    job = start(chat, record)
    head = MessageHead(job.target.name, job.prompt_tokens, record.id)
    thinking = shows_thinking(options, job)
    headers = {**answer_headers(job), "request-id": record.id}

    def remember(text: str, calls: tuple) -> None:
        if thread is not None and not thread.keep(store, head.id, owner, text, calls):
            log.info("message %s not kept: its thread alone passes the store's %d bytes",
                     head.id, store.max_bytes)

    if not chat.stream:
        result = collect_answer(job)
        remember(result.content, result.calls)
        return message_body(head, result, thinking, options.omits_text), 200, headers
    encoder = MessageEncoder(head, thinking, options.omits_text, remember)
    return stream_answer(job, encoder, headers)


@bp.post("/v1/messages/count_tokens")
def count_tokens():
    """Count a message's input tokens with the estimator usage reports (no Lingma call)."""
    data = read_json_body()
    thread = threads.open_thread(data, threads.get_store(), key_owner(),
                                 get_settings().max_body_bytes)
    chat, _ = parse_messages_request(thread.body if thread else data, counting=True)
    check_model(chat)
    return {"input_tokens": pipeline.count_prompt_tokens(chat)}


def start(chat: ChatRequest, record) -> pipeline.Job:
    """Start the job; a prompt over the gateway's limit reads as Anthropic's "prompt is too long"."""
    try:
        return pipeline.start(chat, record, context())
    except LingmaPromptTooLargeError as err:
        raise prompt_too_long(chat, err) from None


def prompt_too_long(chat: ChatRequest, err: LingmaError) -> ApiError:
    """Build the 400 Claude Code recognises and compacts on: `prompt is too long: N tokens > M maximum`."""
    if isinstance(err, ContextWindowExceeded):  # the model's own window: its numbers as they are
        log.info("prompt over the context window: %s", err.message)
        return ApiError(400, f"prompt is too long: {err.tokens} tokens > {err.limit} maximum",
                        param="messages", code="context_length_exceeded")
    tokens = pipeline.count_prompt_tokens(chat)
    if isinstance(err, PromptTooLong):  # the length was measured before rendering: no render here
        chars, limit = err.chars, err.limit
    else:
        chars = len(render_prompt(chat.turns, pipeline.prompt_sections(chat)))
        limit = pipeline.prompt_limit(get_pool())
    maximum = tokens * limit // chars if limit and chars else 0
    maximum = max(1, min(maximum, tokens - 1))
    log.info("prompt over the limit: %s", err.message)
    return ApiError(400, f"prompt is too long: {tokens} tokens > {maximum} maximum",
                    param="messages", code="context_length_exceeded")


def shows_thinking(options: Options, job: pipeline.Job) -> bool:
    """Tell whether reasoning becomes thinking blocks: asked for, or a reasoning model."""
    info = job.target.info
    return options.wants_thinking or bool(info is not None and info.is_reasoning)


# -- the message object --------------------------------------------------------------------

def new_message_id() -> str:
    """Return a fresh `msg_...` id."""
    return "msg_" + hex_id()


def new_signature() -> str:
    """Return an opaque thinking signature (clients send it back; it is never checked)."""
    return "lingma-" + secrets.token_urlsafe(24)


def usage_object(input_tokens: int, output_tokens: int, thinking_tokens: int = 0) -> dict:
    """Return Anthropic's usage object (no prompt caching here; reasoning is in the output)."""
    usage: dict[str, object] = {"input_tokens": input_tokens, "output_tokens": output_tokens,
                                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    if thinking_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": thinking_tokens}
    return usage


def stop_fields(finish: events.Finish) -> dict:
    """Return `stop_reason` and `stop_sequence` of a finish."""
    if finish.reason == "stop" and finish.stop_sequence is not None:
        return {"stop_reason": "stop_sequence", "stop_sequence": finish.stop_sequence}
    return {"stop_reason": STOP_REASONS.get(finish.reason, "end_turn"), "stop_sequence": None}


def tool_use_block(call) -> dict:
    """Return the `tool_use` block of a checked call."""
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}


class MessageHead:
    """What every object of one message shares: id, model, input tokens."""

    def __init__(self, model: str, input_tokens: int, request_id: str = ""):
        self.id = new_message_id()
        self.model = model
        self.input_tokens = input_tokens
        self.request_id = request_id   # streamed errors are written outside the request context

    def message(self, content: list, stop: dict, usage: events.Usage | None = None) -> dict:
        """Return the `message` object (no usage yet: a message just started)."""
        output, thinking = (usage.completion_tokens, usage.reasoning_tokens) if usage else (0, 0)
        return {"id": self.id, "type": "message", "role": "assistant", "model": self.model,
                "content": content, **stop,
                "usage": usage_object(self.input_tokens, output, thinking)}


def message_body(head: MessageHead, result: pipeline.Result, thinking: bool,
                 omit_thinking_text: bool = False) -> dict:
    """Return the `message` object of a whole answer: thinking, text, tool_use blocks."""
    content = []
    if thinking and result.reasoning:
        text = "" if omit_thinking_text else "".join(result.reasoning)
        content.append({"type": "thinking", "thinking": text, "signature": new_signature()})
    if result.content:
        content.append({"type": "text", "text": result.content})
    content += [tool_use_block(call) for call in result.calls]
    return head.message(content, stop_fields(result.finish), result.finish.usage)


# -- the event stream ----------------------------------------------------------------------

def frame(name: str, payload: dict) -> str:
    """Encode one named SSE event (its `type` repeats the name, as Anthropic sends it)."""
    return sse.encode(payload, event=name)


PING = frame("ping", {"type": "ping"})
EMPTY_BLOCKS = {"thinking": {"type": "thinking", "thinking": "", "signature": ""},
                "text": {"type": "text", "text": ""}}


class MessageEncoder:
    """Encode the common events as Anthropic stream events, one content block at a time;
    `on_finish(text, calls)`, if given, is told the answer before `message_delta`."""

    def __init__(self, head: MessageHead, thinking: bool, omit_thinking_text: bool = False,
                 on_finish: Callable[[str, tuple], None] | None = None):
        self.head = head
        self.thinking = thinking
        self.omit_thinking_text = omit_thinking_text
        self.on_finish = on_finish
        self.texts: list[str] = []
        self.calls: tuple = ()
        self.index = -1          # the index of the last block started
        self.open_kind: str | None = None                 # the kind of the block now open, if any
        self.delta: Callable[[str], bytes] | None = None  # fill(text) of the open block's deltas

    def open(self):
        """`message_start`, at once."""
        message = self.head.message([], {"stop_reason": None, "stop_sequence": None})
        yield frame("message_start", {"type": "message_start", "message": message})

    def event(self, event):
        """Frames for one event."""
        if event is events.KEEPALIVE:
            yield PING
        elif isinstance(event, events.Text):
            self.texts.append(event.text)
            delta = yield from self._enter("text")
            yield delta(event.text)
        elif isinstance(event, events.Reasoning):
            if self.thinking:
                delta = yield from self._enter("thinking")
                if not self.omit_thinking_text:
                    yield delta(event.text)
        elif isinstance(event, events.Calls):
            yield from self._close()
            self.calls += tuple(event.calls)
            for call in event.calls:
                yield from self._tool_use(call)
        elif isinstance(event, events.Finish):
            yield from self._finish(event)

    def fail(self, error: ApiError):
        """One `error` event ends the stream; an open block is abandoned."""
        yield frame("error", error_body(error, self.head.request_id)[0])

    def _enter(self, kind: str) -> Generator[str, None, Callable[[str], bytes]]:
        """Make a block of `kind` the open one, stopping the previous block first; return its
        deltas' fill(text)."""
        if self.open_kind == kind and self.delta is not None:
            return self.delta
        yield from self._close()
        self.index += 1
        self.open_kind = kind
        yield self._start(EMPTY_BLOCKS[kind])
        self.delta = delta_template(self.index, {"type": f"{kind}_delta", kind: sse.SLOT})
        return self.delta

    def _close(self):
        if self.open_kind is None:
            return
        if self.open_kind == "thinking":
            yield self._delta({"type": "signature_delta", "signature": new_signature()})
        yield frame("content_block_stop", {"type": "content_block_stop", "index": self.index})
        self.open_kind = self.delta = None

    def _tool_use(self, call):
        self.index += 1
        yield self._start({**tool_use_block(call), "input": {}})
        yield self._delta({"type": "input_json_delta", "partial_json": call.arguments_json()})
        yield frame("content_block_stop", {"type": "content_block_stop", "index": self.index})

    def _start(self, block: dict) -> str:
        return frame("content_block_start", {"type": "content_block_start", "index": self.index,
                                             "content_block": block})

    def _delta(self, delta: dict) -> str:
        return frame("content_block_delta", {"type": "content_block_delta", "index": self.index,
                                             "delta": delta})

    def _finish(self, finish: events.Finish):
        yield from self._close()
        if self.on_finish is not None:
            self.on_finish("".join(self.texts), self.calls)
        usage = usage_object(finish.usage.prompt_tokens, finish.usage.completion_tokens,
                             finish.usage.reasoning_tokens)
        yield frame("message_delta", {"type": "message_delta", "delta": stop_fields(finish),
                                      "usage": usage})
        yield frame("message_stop", {"type": "message_stop"})


def delta_template(index: int, delta: dict) -> Callable[[str], bytes]:
    """Return fill(text) -> the `content_block_delta` frame of a text or thinking delta."""
    return sse.template({"type": "content_block_delta", "index": index, "delta": delta},
                        event="content_block_delta")


# -- errors --------------------------------------------------------------------------------

def anthropic_status(error: ApiError) -> int:
    """Return the status Anthropic's clients expect for an error.

    Gateway capacity (busy slots, Lingma not ready, shutting down) is 529 overloaded; a Lingma
    that is not logged in is a server fault no wait will fix (500, x-should-retry false).
    """
    if error.code == "lingma_not_logged_in":
        return 500
    if error.code == "lingma_busy" or error.status == 503:
        return 529
    return error.status


def error_body(error: ApiError, request_id: str) -> tuple[dict, int]:
    """Return Anthropic's error envelope and its status."""
    status = anthropic_status(error)
    message = error.message
    if error.param and error.param not in message and not message.startswith("prompt is too long"):
        message = f"{error.param}: {message}"   # Anthropic's envelope has no `param`
    body = envelope.anthropic_error(envelope.anthropic_type(status), message, request_id)
    if error.code in threads.ERROR_CODES:   # the SDK's threads branch on this code
        body["error"]["details"] = {"error_code": error.code}
    return body, status


def render_error(error: ApiError):
    """Render an error of this face (status, envelope, Retry-After / x-should-retry kept)."""
    request_id = current_record().id
    body, status = error_body(error, request_id)
    return body, status, {**error.headers, "request-id": request_id}


errors.register_envelope(bp.name, render_error, prefix="/v1/messages")
