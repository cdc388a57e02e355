"""Validate a chat completions body into the common `ChatRequest`.

Everything OpenAI's chat completions take that Lingma can honour is read: messages of every
role (the deprecated `function` role and `function_call` too), text and image parts, tools and
`tool_choice` (and the deprecated `functions` / `function_call`), `response_format`, stops,
token limits. Custom (freeform) tools are offered as functions of one string `input`
(`pipeline/tools/freeform.py`); an earlier custom call is shown as such a call. Types are
strict where OpenAI is strict (`stream: "yes"` is a 400).
"""

from __future__ import annotations

from typing import Annotated
from typing import Any
from typing import Literal

from pydantic import Discriminator
from pydantic import Field
from pydantic import Tag
from pydantic import field_validator
from pydantic import model_validator

from ..pipeline.conversation import ChatRequest
from ..pipeline.conversation import PastCall
from ..pipeline.conversation import ResponseFormat
from ..pipeline.conversation import Turn
from ..pipeline.tools.budget import Budget
from ..pipeline.tools.budget import compile_budget
from ..pipeline.tools.freeform import custom_tool
from ..pipeline.tools.freeform import past_arguments
from ..pipeline.tools.freeform import shared_custom_name
from ..pipeline.tools.spec import ToolChoice
from ..web.errors import ApiError
from .validation import MAX_MESSAGES
from .validation import MAX_NAME
from .validation import MAX_PARTS
from .validation import MAX_TOOLS
from .validation import Count
from .validation import Flag
from .validation import Lenient
from .validation import Number
from .validation import checked_schema
from .validation import function_tool
from .validation import ignored_fields
from .validation import image_data_uri
from .validation import model_field
from .validation import validate

USED = frozenset({"model", "messages", "stream", "stream_options", "stop", "max_tokens",
                  "max_completion_tokens", "n", "tools", "tool_choice", "parallel_tool_calls",
                  "functions", "function_call", "response_format"})


class ImageUrl(Lenient):
    """An `image_url` part's payload."""

    url: str


class Part(Lenient):
    """One content part: text (or refusal) or an image; other kinds are refused."""

    type: str
    text: str | None = None
    refusal: str | None = None
    image_url: ImageUrl | None = None

    @model_validator(mode="after")
    def _known(self):
        if self.type not in ("text", "image_url", "refusal", "input_text"):
            raise ValueError(f"content parts of type {self.type[:40]!r} are not supported;"
                             " send text or image_url parts")
        if self.type in ("text", "input_text") and self.text is None:
            raise ValueError("a text part needs a 'text' string")
        return self


class FunctionCall(Lenient):
    """The function half of a tool call (or a deprecated `function_call`)."""

    name: str = Field(max_length=MAX_NAME)
    arguments: Any = ""


class CustomCall(Lenient):
    """The custom half of a custom tool call: the tool's name and its text input."""

    name: str = Field(max_length=MAX_NAME)
    input: str = ""


class ToolCall(Lenient):
    """A tool call the assistant made earlier in the conversation: a function or a custom tool."""

    id: str | None = None
    type: str = "function"
    function: FunctionCall | None = None
    custom: CustomCall | None = None

    @model_validator(mode="after")
    def _one_kind(self):
        kind = "custom" if self.type == "custom" else "function"
        if getattr(self, kind) is None:
            raise ValueError(f"a {kind} tool call needs a '{kind}' object")
        return self

    def past(self) -> PastCall:
        """The call as the prompt shows it (a custom tool's input as `{"input": text}`)."""
        if self.custom is not None and self.type == "custom":
            return PastCall(self.id, self.custom.name, past_arguments(self.custom.input))
        function = self.function or FunctionCall(name="")   # set: checked by _one_kind
        return PastCall(self.id, function.name, function.arguments)


class Message(Lenient):
    """One chat message."""

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | Annotated[list[Part], Field(max_length=MAX_PARTS)] | None = None
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[ToolCall] | None = Field(None, max_length=MAX_PARTS)
    function_call: FunctionCall | None = None


class FunctionSpec(Lenient):
    """A function offered as a tool (or in the deprecated `functions` list)."""

    name: str = Field(min_length=1, max_length=MAX_NAME)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ToolSpec(Lenient):
    """An offered function tool."""

    type: Literal["function"] = "function"
    function: FunctionSpec


class Grammar(Lenient):
    """A custom tool's grammar."""

    syntax: Literal["lark", "regex"]
    definition: str


class CustomFormat(Lenient):
    """A custom tool's `format`: free text, or a grammar the input follows."""

    type: Literal["text", "grammar"]
    grammar: Grammar | None = None

    @model_validator(mode="after")
    def _grammar(self):
        if self.type == "grammar" and self.grammar is None:
            raise ValueError("a grammar format needs a 'grammar' object")
        return self


class CustomSpec(Lenient):
    """A custom tool's properties."""

    name: str = Field(min_length=1, max_length=MAX_NAME)
    description: str | None = None
    format: CustomFormat | None = None


class CustomToolSpec(Lenient):
    """An offered custom (freeform) tool."""

    type: Literal["custom"]
    custom: CustomSpec


AnyTool = Annotated[
    Annotated[ToolSpec, Tag("Function")] | Annotated[CustomToolSpec, Tag("Custom")],
    Discriminator(lambda v: "Custom" if isinstance(v, dict) and v.get("type") == "custom"
                  else "Function")]


class ChosenFunction(Lenient):
    """The function a tool choice names (never empty)."""

    name: str = Field(min_length=1, max_length=MAX_NAME)


class NamedChoice(Lenient):
    """`tool_choice: {"type": "function", "function": {"name": ...}}`."""

    function: ChosenFunction


class NamedCustomChoice(Lenient):
    """`tool_choice: {"type": "custom", "custom": {"name": ...}}`."""

    type: Literal["custom"]
    custom: ChosenFunction


class JsonSchema(Lenient):
    """`response_format.json_schema`."""

    name: str = "response"
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: Flag | None = None


class ResponseFormatSpec(Lenient):
    """`response_format`."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchema | None = None


class StreamOptions(Lenient):
    """The `stream_options` object."""

    include_usage: Flag | None = False


class ChatCompletionBody(Lenient):
    """The body of POST /v1/chat/completions."""

    model: str | None = model_field()
    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: Flag | None = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    max_tokens: Count | None = Field(None, ge=1)
    max_completion_tokens: Count | None = Field(None, ge=1)
    n: Count | None = None
    temperature: Number | None = Field(None, ge=0, le=2)
    top_p: Number | None = Field(None, ge=0, le=1)
    tools: list[AnyTool] | None = Field(None, max_length=MAX_TOOLS)
    tool_choice: Literal["none", "auto", "required"] | NamedChoice | NamedCustomChoice | None = None
    parallel_tool_calls: Flag | None = None
    functions: list[FunctionSpec] | None = Field(None, max_length=MAX_TOOLS)
    function_call: Literal["none", "auto"] | ChosenFunction | None = None
    response_format: ResponseFormatSpec | None = None

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


def parse_chat_request(data: Any) -> tuple[ChatRequest, bool]:
    """Validate a body into (ChatRequest, include_usage) or raise a 400 ApiError."""
    body = validate(ChatCompletionBody, data)
    stops = [body.stop] if isinstance(body.stop, str) else (body.stop or [])
    # one budget for compiling every schema of the request; none when there is none to compile
    budget = compile_budget() if body.tools or body.functions or body.response_format is not None else None
    chat = ChatRequest(
        turns=tuple(turn for i, m in enumerate(body.messages) for turn in to_turns(m, i)),
        model=body.model,
        stream=bool(body.stream),
        stops=tuple(s for s in stops if s),
        max_tokens=body.max_completion_tokens or body.max_tokens,
        tools=offered(body, budget),
        tool_choice=choice(body),
        parallel_tools=body.parallel_tool_calls is not False,
        response_format=response_format(body.response_format, budget),
        ignored=ignored_fields(data, USED),
    )
    return chat, bool(body.stream_options and body.stream_options.include_usage)


def to_turns(message: Message, index: int) -> list[Turn]:
    """Turn one chat message into conversation turns."""
    role = {"developer": "system", "function": "tool"}.get(message.role, message.role)
    text, images = content_of(message, index)
    if role == "tool":
        return [Turn("tool", text, call_id=message.tool_call_id, name=message.name)]
    calls = tuple(c.past() for c in message.tool_calls or [])
    if message.function_call is not None:
        calls += (PastCall(None, message.function_call.name, message.function_call.arguments),)
    return [Turn(role, text, images=images if role == "user" else (), calls=calls)]


def content_of(message: Message, index: int) -> tuple[str, tuple[str, ...]]:
    """Return a message's text (parts joined by newlines) and its images."""
    content = message.content
    if content is None or isinstance(content, str):
        return content or "", ()
    texts, images = [], []
    for j, part in enumerate(content):
        if part.type == "image_url":
            if part.image_url is None:
                raise ApiError(400, "An image_url part needs an 'image_url' object.",
                               param=f"messages[{index}].content[{j}]", code="invalid_value")
            images.append(image_data_uri(part.image_url.url, f"messages[{index}].content[{j}]"))
        else:
            texts.append(part.text or part.refusal or "")
    return "\n".join(texts), tuple(images)


def offered(body: ChatCompletionBody, budget: Budget | None = None) -> tuple:
    """Return the offered tools (`tools`, or the deprecated `functions`), schemas compiled."""
    tools = []
    for i, tool in enumerate(body.tools or []):
        if isinstance(tool, CustomToolSpec):
            grammar = tool.custom.format.grammar if tool.custom.format else None
            tools.append(custom_tool(tool.custom.name, tool.custom.description,
                                     grammar.syntax if grammar else None,
                                     grammar.definition if grammar else None))
        else:
            tools.append(function_tool(tool.function.name, tool.function.description,
                                       tool.function.parameters,
                                       f"tools[{i}].function.parameters", budget))
    tools += [function_tool(f.name, f.description, f.parameters, f"functions[{i}].parameters",
                            budget) for i, f in enumerate(body.functions or [])]
    clash = shared_custom_name(tools)
    if clash is not None:
        raise ApiError(400, f"Two tools are named {clash!r}; a custom tool's name must be unique"
                       " among 'tools'.", param="tools", code="invalid_value")
    return tuple(tools)


def choice(body: ChatCompletionBody) -> ToolChoice:
    """Return the tool choice (`tool_choice`, or the deprecated `function_call`)."""
    value = body.tool_choice if body.tool_choice is not None else body.function_call
    if value is None:
        return ToolChoice.auto()
    if isinstance(value, str):
        return ToolChoice(value)
    if isinstance(value, NamedCustomChoice):
        return ToolChoice.named(value.custom.name)
    name = value.function.name if isinstance(value, NamedChoice) else value.name
    return ToolChoice.named(name)


def response_format(spec: ResponseFormatSpec | None,
                    budget: Budget | None = None) -> ResponseFormat | None:
    """Return the structured-output request (its schema compiled), or None for plain text."""
    if spec is None or spec.type == "text":
        return None
    if spec.type == "json_object" or spec.json_schema is None:
        return ResponseFormat()
    schema = spec.json_schema
    checker = None
    if schema.schema_ is not None:
        checker = checked_schema(schema.schema_, "response_format.json_schema.schema", budget)
    return ResponseFormat(schema.schema_, schema.name, bool(schema.strict), checker)
