"""POST /v1/completions: the legacy text completions face of the pipeline.

`prompt` is a string or a list of strings: one choice per prompt, in order (answered one after
the other). `stream`, `stop`, `max_tokens` (no cap when it is not given: the gateway's
default, not OpenAI's 16, which would cut off clients such as `llm` that send none), usage
estimated. `echo: true`, a `suffix`, `n`/`best_of` above 1 and `logprobs` are
clear 400s: Lingma cannot honour them.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Annotated

from flask import Blueprint
from pydantic import Field
from pydantic import ValidationInfo
from pydantic import field_validator

from ..ids import hex_id
from ..pipeline import events
from ..pipeline import job as pipeline
from ..pipeline.conversation import ChatRequest
from ..pipeline.conversation import Turn
from ..pipeline.series import Series
from ..web import sse
from ..web.auth import require_api_key
from ..web.errors import ApiError
from ..web.limits import admit
from ..web.requestlog import current_record
from .chat_shapes import usage_object
from .face import answer_headers
from .face import collect_answer
from .face import context
from .face import read_json_body
from .face import stream_answer
from .validation import Count
from .validation import Flag
from .validation import Lenient
from .validation import ignored_fields
from .validation import model_field
from .validation import validate

MAX_PROMPTS = 16
USED = frozenset({"model", "prompt", "stream", "stop", "max_tokens", "echo", "suffix", "n",
                  "best_of", "logprobs", "stream_options"})
# fields Lingma cannot honour: any truthy value is a 400 saying why
REFUSED = {"echo": "echo is not supported: Lingma returns only the completion",
           "suffix": "suffix (insertion) is not supported by Lingma",
           "logprobs": "logprobs are not available from Lingma"}

bp = Blueprint("completions", __name__)
bp.before_request(require_api_key)


class CompletionBody(Lenient):
    """The body of POST /v1/completions."""

    model: str | None = model_field()
    prompt: str | Annotated[list[str], Field(min_length=1, max_length=MAX_PROMPTS)]
    stream: Flag | None = False
    stop: str | list[str] | None = None
    max_tokens: Count | None = Field(None, ge=1)
    echo: Flag | None = False
    suffix: str | None = None
    n: Count | None = None
    best_of: Count | None = None
    logprobs: Count | None = None

    @field_validator("echo", "suffix", "logprobs")
    @classmethod
    def _refused(cls, value, info: ValidationInfo):
        if value:
            # pydantic types field_name optional (model validators have none); here it is set
            raise ValueError(REFUSED[info.field_name or ""])
        return value

    @field_validator("n", "best_of")
    @classmethod
    def _only_one(cls, value):
        if value is not None and value != 1:
            raise ValueError("only 1 is supported")
        return value


@dataclasses.dataclass(frozen=True)
class TextCompletion:
    """Builds every object of one legacy completion: same id, created and model throughout."""

    model: str
    id: str = dataclasses.field(default_factory=lambda: "cmpl-" + hex_id())
    created: int = dataclasses.field(default_factory=lambda: int(time.time()))

    def body(self, choices: list[dict], usage: dict | None) -> dict:
        """Return a `text_completion` object (a whole answer, or one streamed chunk)."""
        body = {"id": self.id, "object": "text_completion", "created": self.created,
                "model": self.model, "system_fingerprint": None, "choices": choices}
        if usage is not None:
            body["usage"] = usage
        return body


def choice(index: int, text: str, finish_reason: str | None) -> dict:
    """Return one choice."""
    return {"text": text, "index": index, "logprobs": None, "finish_reason": finish_reason}


@bp.post("/v1/completions")
@bp.post("/completions")
def create_completion():
    """Complete each prompt, as one JSON object or as SSE chunks."""
    data = read_json_body()
    body = validate(CompletionBody, data)
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    stops = [body.stop] if isinstance(body.stop, str) else (body.stop or [])
    chats = [ChatRequest((Turn("user", p),), model=body.model, stream=bool(body.stream),
                         stops=tuple(s for s in stops[:4] if s),
                         max_tokens=body.max_tokens,
                         ignored=ignored_fields(data, USED)) for p in prompts]
    record = current_record()
    record.stream = bool(body.stream)
    admit(record)
    series = Series(pipeline.start(chats[0], record, context()), chats)
    shape = TextCompletion(series.first.target.name)
    headers = answer_headers(series.first)
    if not body.stream:
        return whole(series, shape), 200, headers
    return stream_answer(series, ChoicesEncoder(shape, len(chats)), headers)


def whole(series: Series, shape: TextCompletion) -> dict:
    """Answer every prompt in turn and return the whole `text_completion`."""
    choices, prompt_tokens, completion_tokens = [], 0, 0
    for index, job in enumerate(series.jobs()):
        result = collect_answer(job)
        choices.append(choice(index, result.content, result.finish.reason))
        prompt_tokens += result.finish.usage.prompt_tokens
        completion_tokens += result.finish.usage.completion_tokens
    usage = events.Usage(prompt_tokens, completion_tokens)
    return shape.body(choices, usage_object(usage))


class ChoicesEncoder:
    """Encode the events of each prompt's answer as `text_completion` chunks, one choice index each.

    The answers come one after the other (a `Series`), each ended by its `Finish`: the choice
    index moves on at each, and the last prompt's is followed by the usage chunk and [DONE].
    """

    def __init__(self, shape: TextCompletion, prompts: int):
        self.shape, self.prompts = shape, prompts
        self.index, self.prompt_tokens, self.completion_tokens = 0, 0, 0
        self.text = self._text_template()

    def open(self):
        """Nothing before the first text (a keepalive comment keeps the line warm)."""
        yield sse.KEEPALIVE

    def event(self, event):
        """Frames for one event of the current prompt."""
        if event is events.KEEPALIVE:
            yield sse.KEEPALIVE
        elif isinstance(event, events.Text):
            yield self.text(event.text)
        elif isinstance(event, events.Finish):
            yield from self._finish(event)

    def _finish(self, finish: events.Finish):
        yield sse.encode(self.shape.body([choice(self.index, "", finish.reason)], None))
        self.prompt_tokens += finish.usage.prompt_tokens
        self.completion_tokens += finish.usage.completion_tokens
        self.index += 1
        if self.index < self.prompts:
            self.text = self._text_template()
            return
        usage = usage_object(events.Usage(self.prompt_tokens, self.completion_tokens))
        yield sse.encode(self.shape.body([], usage))
        yield sse.DONE

    def fail(self, error: ApiError):
        """One error frame ends the stream."""
        yield sse.encode(error.body())

    def _text_template(self):
        """Return fill(text) of the current choice's text chunks, encoded once per choice."""
        return sse.template(self.shape.body([choice(self.index, sse.SLOT, None)], None))
