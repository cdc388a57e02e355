"""Validate request bodies (pydantic) into plain request objects; errors name the field.

Unknown fields are accepted and ignored, as OpenAI clients send many; `ChatRequest.ignored`
lists those that are accepted but not forwarded to Lingma.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any
from typing import Literal

import pydantic
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import field_validator
from pydantic import model_validator

from .errors import ApiError

IMAGE_PART_TYPES = ("image_url", "input_image", "image")
# fields we read; every other field is accepted and ignored
USED_FIELDS = frozenset({"model", "messages", "stream", "stream_options", "stop", "max_tokens",
                         "max_completion_tokens", "n"})


class _Lenient(BaseModel):
    """Base of the request models: unknown fields are accepted (and listed as not forwarded)."""

    model_config = ConfigDict(extra="allow")


class ContentPart(_Lenient):
    """One part of an array content; only text parts are supported."""

    type: str
    text: str | None = None

    @model_validator(mode="after")
    def _text_only(self):
        if self.type in IMAGE_PART_TYPES:
            raise ValueError("images are not supported yet; send text parts only")
        if self.type != "text":
            raise ValueError(f"content parts of type {self.type!r} are not supported;"
                             " send text parts only")
        if self.text is None:
            raise ValueError("a text part needs a 'text' string")
        return self


class ToolCallFunction(_Lenient):
    """The function half of an assistant tool call."""

    name: str
    arguments: Any = ""

    @field_validator("arguments")
    @classmethod
    def _as_text(cls, value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value)


class ToolCall(_Lenient):
    """A tool call made by the assistant earlier in the conversation."""

    id: str | None = None
    type: str = "function"
    function: ToolCallFunction


class Message(_Lenient):
    """One chat message."""

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[ToolCall] | None = None


class StreamOptions(_Lenient):
    """The `stream_options` object."""

    include_usage: bool | None = False


class ChatCompletionBody(_Lenient):
    """The body of POST /v1/chat/completions."""

    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    seed: int | None = None
    user: str | None = None
    tools: list[dict[str, Any]] | None = None

    @field_validator("stop")
    @classmethod
    def _at_most_four(cls, value):
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences are allowed")
        return value

    @field_validator("n")
    @classmethod
    def _only_one(cls, value):
        if value is not None and value != 1:
            raise ValueError("only n=1 is supported")
        return value


@dataclasses.dataclass(frozen=True)
class ChatRequest:
    """A validated chat completion request, as plain data."""

    model: str | None
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    stops: tuple[str, ...]
    max_tokens: int | None
    ignored: tuple[str, ...]


def parse_chat_request(data: Any) -> ChatRequest:
    """Validate a decoded JSON body into a ChatRequest or raise a 400 ApiError."""
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_request")
    try:
        body = ChatCompletionBody.model_validate(data)
    except pydantic.ValidationError as exc:
        raise validation_error(exc) from None
    stops = [body.stop] if isinstance(body.stop, str) else (body.stop or [])
    return ChatRequest(
        model=body.model or None,
        messages=[m.model_dump(exclude_none=True) for m in body.messages],
        stream=bool(body.stream),
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
        stops=tuple(s for s in stops if s),
        max_tokens=body.max_completion_tokens or body.max_tokens,
        ignored=tuple(sorted(k for k in data if k not in USED_FIELDS)),
    )


def validation_error(exc: pydantic.ValidationError) -> ApiError:
    """Turn the most specific pydantic error into a 400 naming the field."""
    error = max(exc.errors(), key=lambda e: len(e["loc"]))
    param = param_path(error["loc"])
    if error["type"] == "missing":
        return ApiError(400, f"Missing required parameter: '{param}'.", param=param,
                        code="missing_required_parameter")
    message = error["msg"].removeprefix("Value error, ")
    return ApiError(400, f"Invalid value for '{param}': {message}.", param=param,
                    code="invalid_value")


_FIELD = re.compile(r"[a-z_][a-z0-9_]*")
_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def param_path(loc: tuple) -> str | None:
    """Render a pydantic location as `messages[0].content[1]`, dropping union type tags."""
    path = ""
    for item in loc:
        if isinstance(item, int):
            path += f"[{item}]"
        elif _FIELD.fullmatch(item) and item not in _TYPE_TAGS:
            path += ("." if path else "") + item
    return path or None
