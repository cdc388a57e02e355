"""Validate a Responses API body (POST /v1/responses) into the common `ChatRequest`.

`input` is a string or a list of items: messages of every role (Codex sends its system prompt
as `developer` messages), earlier function and custom tool calls with their outputs (each call
joins the assistant turn before it, each output becomes a tool turn), and items Lingma cannot
use (`reasoning`, hosted-tool calls, compaction, ...), which are dropped. Function tools are
offered, and so are custom (freeform) tools, as functions of one string `input`
(`pipeline/tools/freeform.py`); an earlier custom call is shown to the model as such a call.
Hosted and namespace tools are accepted and left out of the prompt. Types are strict where
OpenAI is strict; unknown fields and item kinds never fail a request.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated
from typing import Any
from typing import Literal

from pydantic import Discriminator
from pydantic import Field
from pydantic import Tag
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

USED = frozenset({"model", "input", "instructions", "stream", "max_output_tokens", "tools",
                  "tool_choice", "parallel_tool_calls", "text", "previous_response_id", "store"})
TEXT_PARTS = ("input_text", "output_text", "text", "summary_text", "reasoning_text")
CALLS = ("function_call", "custom_tool_call")
OUTPUTS = ("function_call_output", "custom_tool_call_output")


# -- content parts ---------------------------------------------------------------------------

class Part(Lenient):
    """One content part: text, a refusal, or an inline image; files and audio are refused."""

    type: str
    text: str | None = None
    refusal: str | None = None
    image_url: str | None = None
    file_id: str | None = None

    @model_validator(mode="after")
    def _known(self):
        if self.type in TEXT_PARTS and self.text is None:
            raise ValueError(f"an {self.type} part needs a 'text' string")
        if self.type == "input_image" and self.image_url is None:
            raise ValueError("this gateway takes images only as data URIs in 'image_url'"
                             + ("; a 'file_id' cannot be resolved" if self.file_id else ""))
        if self.type not in TEXT_PARTS + ("refusal", "input_image"):
            raise ValueError(f"content parts of type {self.type[:40]!r} are not supported;"
                             " send input_text or input_image parts")
        return self


Parts = Annotated[list[Part], Field(max_length=MAX_PARTS)]


# -- input items -----------------------------------------------------------------------------

class MessageItem(Lenient):
    """A message of any role (`type` may be left out)."""

    type: Literal["message"] | None = None
    role: Literal["user", "assistant", "system", "developer"]
    content: str | Parts


class CallItem(Lenient):
    """An earlier function call (`arguments`) or custom tool call (`input`)."""

    type: Literal["function_call", "custom_tool_call"]
    call_id: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=MAX_NAME)
    arguments: str | None = None
    input: str | None = None


class OutputItem(Lenient):
    """The result of an earlier call: a string, or text (and image) parts."""

    type: Literal["function_call_output", "custom_tool_call_output"]
    call_id: str = Field(min_length=1)
    output: str | Parts


class OtherItem(Lenient):
    """Any other item (reasoning, hosted-tool calls, compaction, ...): accepted and dropped."""

    type: str


def item_kind(value: Any) -> str:
    """Tell which item model validates a raw input item."""
    if not isinstance(value, dict):
        return "Other"
    kind = value.get("type")
    if kind == "message" or (kind is None and "role" in value):
        return "Message"
    return "Call" if kind in CALLS else "Output" if kind in OUTPUTS else "Other"


# Tags are capitalised so error locations (`input[3].content`) leave them out.
Item = Annotated[
    Annotated[MessageItem, Tag("Message")] | Annotated[CallItem, Tag("Call")]
    | Annotated[OutputItem, Tag("Output")] | Annotated[OtherItem, Tag("Other")],
    Discriminator(item_kind)]
Items = Annotated[list[Item], Field(max_length=MAX_MESSAGES)]


# -- tools, formats, the body ----------------------------------------------------------------

class FunctionTool(Lenient):
    """A function tool: offered to the model."""

    type: Literal["function"]
    name: str = Field(min_length=1, max_length=MAX_NAME)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: Flag | None = None


class CustomFormat(Lenient):
    """A custom tool's `format`: free text, or a grammar the input follows."""

    type: Literal["text", "grammar"]
    syntax: Literal["lark", "regex"] | None = None
    definition: str | None = None

    @model_validator(mode="after")
    def _grammar(self):
        if self.type == "grammar" and (self.syntax is None or self.definition is None):
            raise ValueError("a grammar format needs 'syntax' and 'definition'")
        return self


class CustomTool(Lenient):
    """A custom (freeform) tool: offered to the model as a function of one string."""

    type: Literal["custom"]
    name: str = Field(min_length=1, max_length=MAX_NAME)
    description: str | None = None
    format: CustomFormat | None = None


class OtherTool(Lenient):
    """A hosted, namespace or local tool: accepted, not offered."""

    type: str


def tool_kind(value: Any) -> str:
    """Tell which tool model validates a raw tool."""
    kind = value.get("type") if isinstance(value, dict) else None
    return "Function" if kind == "function" else "Custom" if kind == "custom" else "Other"


Tool = Annotated[
    Annotated[FunctionTool, Tag("Function")] | Annotated[CustomTool, Tag("Custom")]
    | Annotated[OtherTool, Tag("Other")],
    Discriminator(tool_kind)]


class NamedChoice(Lenient):
    """An object `tool_choice`: `{"type": "function" | "custom", "name": ...}` or a hosted kind."""

    type: str
    name: str | None = Field(None, max_length=MAX_NAME)


class TextFormat(Lenient):
    """`text.format`."""

    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: Flag | None = None

    @model_validator(mode="after")
    def _schema(self):
        if self.type == "json_schema" and self.schema_ is None:
            raise ValueError("a json_schema format needs a 'schema'")
        return self


class TextConfig(Lenient):
    """`text`: the output format (and verbosity, not forwarded)."""

    format: TextFormat | None = None
    verbosity: str | None = None


class ReasoningConfig(Lenient):
    """`reasoning`: accepted and echoed; Lingma's models reason on their own."""

    effort: str | None = None
    summary: str | None = None


class ResponsesBody(Lenient):
    """The body of POST /v1/responses."""

    model: str | None = model_field()
    input: str | Items | None = None
    instructions: str | None = None
    previous_response_id: str | None = Field(None, min_length=1)
    stream: Flag | None = False
    store: Flag | None = True
    background: Flag | None = None
    max_output_tokens: Count | None = Field(None, ge=1)
    max_tool_calls: Count | None = Field(None, ge=1)
    tools: list[Tool] | None = Field(None, max_length=MAX_TOOLS)
    tool_choice: Literal["none", "auto", "required"] | NamedChoice | None = None
    parallel_tool_calls: Flag | None = None
    text: TextConfig | None = None
    reasoning: ReasoningConfig | None = None
    metadata: dict[str, str] | None = None
    include: list[str] | None = None
    temperature: Number | None = Field(None, ge=0, le=2)
    top_p: Number | None = Field(None, ge=0, le=1)
    truncation: Literal["auto", "disabled"] | None = None
    user: str | None = None
    service_tier: str | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    client_metadata: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class ResponsesRequest:
    """A validated Responses request: the chat, what the response echoes, what gets stored."""

    chat: ChatRequest
    echo: dict
    conversation: tuple[Turn, ...]   # earlier turns and this input, without `instructions`
    store: bool = True
    previous_id: str | None = None   # the stored response the conversation continues


History = Callable[[str], "tuple[Turn, ...] | None"]


def parse_responses_request(data: Any, history: History,
                            require_input: bool = True) -> ResponsesRequest:
    """Validate a body or raise a 400 ApiError.

    `history(id)` gives the stored conversation the client may continue, or None (unknown,
    evicted, or another key's: the same answer, so ids cannot be probed). Without
    `require_input` (a WebSocket's `generate: false`, nothing is answered) the conversation
    may hold system turns only.
    """
    body = validate(ResponsesBody, data)
    refuse_server_state(data)
    earlier = earlier_turns(body.previous_response_id, history)
    conversation = earlier + input_turns(body.input)
    if require_input and not any(turn.role != "system" for turn in conversation):
        raise ApiError(400, "Missing required parameter: 'input'.", param="input",
                       code="missing_required_parameter")
    instructions = (Turn("system", body.instructions),) if body.instructions else ()
    # one budget for compiling every schema of the request; none when there is none to compile
    budget = compile_budget() if body.tools or body.text is not None else None
    chat = ChatRequest(
        turns=instructions + conversation,
        model=body.model,
        stream=bool(body.stream),
        max_tokens=body.max_output_tokens,
        tools=offered(body.tools or [], budget),
        tool_choice=choice(body),
        parallel_tools=body.parallel_tool_calls is not False,
        response_format=response_format(body.text, budget),
        call_prefix="call_",
        ignored=ignored_fields(data, USED),
    )
    return ResponsesRequest(chat, echo_fields(data, body), conversation,
                            store=body.store is not False,
                            previous_id=body.previous_response_id)


# Fields that name state OpenAI keeps on its servers and this gateway does not keep: any value
# but null (or false) is refused, never accepted and ignored (`store` and
# `previous_response_id` are honoured).
SERVER_STATE = {
    "conversation": "this gateway keeps no conversations (it serves no Conversations API):"
                    " send the conversation in 'input', or continue a response with"
                    " 'previous_response_id'",
    "background": "this gateway runs no background responses: stream the response, or wait"
                  " for it",
    "prompt": "this gateway stores no prompt templates: send the prompt's text as"
              " 'instructions' and 'input'",
}


def refuse_server_state(data: dict) -> None:
    """Raise a 400 naming the first server-state field set that this gateway cannot honour."""
    for name, why in SERVER_STATE.items():
        value = data.get(name)
        if value is not None and value is not False:
            raise ApiError(400, f"'{name}' is not supported: {why}.", param=name,
                           code="unsupported_parameter")


def earlier_turns(previous_id: str | None, history: History) -> tuple[Turn, ...]:
    """Return the stored conversation `previous_response_id` names, or raise 400 (not found)."""
    if previous_id is None:
        return ()
    turns = history(previous_id)
    if turns is None:
        raise ApiError(400, f"Previous response with id '{previous_id[:100]}' not found. This"
                       " gateway keeps recent stored responses per API key, for LINGMA_STATE_TTL"
                       " (in memory, per worker process, when its store is off).",
                       param="previous_response_id", code="previous_response_not_found")
    return turns


def input_turns(value: str | list | None) -> tuple[Turn, ...]:
    """Turn `input` into conversation turns, calls joining the assistant turn before them."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (Turn("user", value),)
    turns: list[Turn] = []
    for index, item in enumerate(value):
        if isinstance(item, MessageItem):
            turns.append(message_turn(item, index))
        elif isinstance(item, CallItem):
            add_call(turns, item)
        elif isinstance(item, OutputItem):
            turns.append(Turn("tool", parts_text(item.output), call_id=item.call_id))
    return tuple(turns)


def message_turn(item: MessageItem, index: int) -> Turn:
    """Return the turn of one message item (images only on user turns)."""
    role = "system" if item.role == "developer" else item.role
    if isinstance(item.content, str):
        return Turn(role, item.content)
    images = tuple(image_data_uri(part.image_url, f"input[{index}].content[{j}]")
                   for j, part in enumerate(item.content) if part.type == "input_image")
    return Turn(role, parts_text(item.content), images=images if role == "user" else ())


def parts_text(content: str | list[Part]) -> str:
    """Return the text of a content (parts joined by newlines; images as placeholders)."""
    if isinstance(content, str):
        return content
    texts = []
    for part in content:
        if part.type == "input_image":
            continue
        texts.append(part.text if part.text is not None else part.refusal or "")
    return "\n".join(texts)


def add_call(turns: list[Turn], item: CallItem) -> None:
    """Add an earlier call to the assistant turn just before it, or start one."""
    if item.type == "function_call":
        call = PastCall(item.call_id, item.name, item.arguments or "")
    else:
        call = PastCall(item.call_id, item.name, past_arguments(item.input or ""))
    if turns and turns[-1].role == "assistant":
        turns[-1] = dataclasses.replace(turns[-1], calls=turns[-1].calls + (call,))
    else:
        turns.append(Turn("assistant", calls=(call,)))


def offered(tools: list, budget: Budget | None = None) -> tuple:
    """Return the function and custom tools, schemas compiled; other kinds are left out."""
    result = []
    for i, tool in enumerate(tools):
        if isinstance(tool, FunctionTool):
            result.append(function_tool(tool.name, tool.description, tool.parameters,
                                        f"tools[{i}].parameters", budget))
        elif isinstance(tool, CustomTool):
            spec = tool.format or CustomFormat(type="text")
            result.append(custom_tool(tool.name, tool.description, spec.syntax, spec.definition))
    clash = shared_custom_name(result)
    if clash is not None:
        raise ApiError(400, f"Two tools are named {clash!r}; a custom tool's name must be unique"
                       " among 'tools'.", param="tools", code="invalid_value")
    return tuple(result)


def choice(body: ResponsesBody) -> ToolChoice:
    """Return the tool choice; a named function or custom tool must be among the tools."""
    value = body.tool_choice
    if value is None:
        return ToolChoice.auto()
    if isinstance(value, str):
        return ToolChoice(value)
    if value.type not in ("function", "custom"):
        return ToolChoice.auto()
    names = {t.name for t in body.tools or []
             if isinstance(t, (FunctionTool, CustomTool)) and t.type == value.type}
    if not value.name or value.name not in names:
        kind = "function" if value.type == "function" else "custom tool"
        raise ApiError(400, f"tool_choice names the {kind} {value.name!r}, which is not in"
                       " 'tools'.", param="tool_choice", code="invalid_value")
    return ToolChoice.named(value.name)


def response_format(text: TextConfig | None, budget: Budget | None = None) -> ResponseFormat | None:
    """Return the structured-output request of `text.format` (schema compiled), or None."""
    spec = text.format if text is not None else None
    if spec is None or spec.type == "text":
        return None
    if spec.type == "json_object":
        return ResponseFormat()
    checker = None
    if spec.schema_ is not None:
        checker = checked_schema(spec.schema_, "text.format.schema", budget)
    return ResponseFormat(spec.schema_, spec.name or "response", bool(spec.strict), checker)


def echo_fields(data: dict, body: ResponsesBody) -> dict:
    """Return the request fields every response object repeats (OpenAI's defaults otherwise)."""
    return {
        "instructions": body.instructions,
        "max_output_tokens": body.max_output_tokens,
        "metadata": body.metadata or {},
        "parallel_tool_calls": body.parallel_tool_calls is not False,
        "previous_response_id": body.previous_response_id,
        "prompt_cache_key": body.prompt_cache_key,
        "reasoning": {"effort": None, "summary": None, **(data.get("reasoning") or {})},
        "service_tier": body.service_tier or "default",
        "store": body.store is not False,
        "temperature": 1.0 if body.temperature is None else body.temperature,
        "text": data.get("text") or {"format": {"type": "text"}},
        "tool_choice": data.get("tool_choice") or "auto",
        "tools": data.get("tools") or [],
        "top_p": 1.0 if body.top_p is None else body.top_p,
        "truncation": body.truncation or "disabled",
        "user": body.user,
    }
