"""Validate an Anthropic Messages body into the common `ChatRequest`.

Everything Claude Code and the `anthropic` SDK send is read: `system` (a string or text
blocks), `messages` of role user / assistant / system with text, image, document,
search_result, tool_use, tool_result, thinking and compaction blocks, custom tools (deferred
ones, `tool_reference` loading and mid-conversation tool changes included), `tool_choice`,
`thinking`, `stop_sequences`, `max_tokens` and structured output (`output_config.format`).
Server tools and their result blocks are accepted and left out of the prompt; unknown fields
are accepted. Types are strict where Anthropic is strict (`max_tokens: "9"` is a 400).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated
from typing import Any
from typing import Literal
from typing import Union

from pydantic import Discriminator
from pydantic import Field
from pydantic import Tag
from pydantic import model_validator

from .conversation import ChatRequest
from .conversation import PastCall
from .conversation import ResponseFormat
from .conversation import Turn
from .errors import ApiError
from .schemas import MAX_MESSAGES
from .schemas import MAX_NAME
from .schemas import MAX_PARTS
from .schemas import MAX_STOPS
from .schemas import MAX_TOOLS
from .schemas import Count
from .schemas import Flag
from .schemas import Lenient
from .schemas import function_tool
from .schemas import ignored_fields
from .schemas import image_data_uri
from .schemas import validate
from .tools.spec import Tool
from .tools.spec import ToolChoice

USED = frozenset({"model", "messages", "system", "max_tokens", "stop_sequences", "stream",
                  "thinking", "tools", "tool_choice", "output_config", "output_format"})
BILLING_HEADER = "x-anthropic-billing-header:"   # Claude Code's accounting line, not an instruction
CALL_PREFIX = "toolu_"
TAG = "block:"   # pydantic puts the tag in error locations; the colon keeps it out of `param`


# -- content blocks ------------------------------------------------------------------------

class TextBlock(Lenient):
    """A text block (its `cache_control` and `citations` are ignored)."""

    type: Literal["text"]
    text: str


class Source(Lenient):
    """The `source` of an image or document block."""

    type: str
    media_type: str | None = None
    data: str | None = None
    content: str | list[TextBlock] | None = None


class ImageBlock(Lenient):
    """An image: a base64 source becomes a data URI."""

    type: Literal["image"]
    source: Source


class DocumentBlock(Lenient):
    """A document: text sources become text."""

    type: Literal["document"]
    source: Source
    title: str | None = None
    context: str | None = None


class SearchResultBlock(Lenient):
    """A search result the client supplies: its title, source and text blocks."""

    type: Literal["search_result"]
    source: str
    title: str
    content: list[TextBlock] = Field(max_length=MAX_PARTS)


class ToolReferenceBlock(Lenient):
    """A `tool_reference` in a tool result: the named deferred tool becomes available."""

    type: Literal["tool_reference"]
    tool_name: str = Field(min_length=1, max_length=MAX_NAME)


class OtherBlock(Lenient):
    """Any other block type (dropped when it is server-tool traffic, else refused)."""

    type: str


def tagger(known: frozenset[str]):
    """Return the discriminator of a block union: its type's tag, or `other`."""
    def tag(value: Any) -> str:
        kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        return TAG + (kind if kind in known else "other")
    return tag


ResultPart = Annotated[Union[
    Annotated[TextBlock, Tag(TAG + "text")],
    Annotated[ImageBlock, Tag(TAG + "image")],
    Annotated[DocumentBlock, Tag(TAG + "document")],
    Annotated[SearchResultBlock, Tag(TAG + "search_result")],
    Annotated[ToolReferenceBlock, Tag(TAG + "tool_reference")],
    Annotated[OtherBlock, Tag(TAG + "other")],
], Discriminator(tagger(frozenset({"text", "image", "document", "search_result",
                                   "tool_reference"})))]


class ToolUseBlock(Lenient):
    """A call the assistant made."""

    type: Literal["tool_use"]
    id: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=MAX_NAME)
    input: dict[str, Any]


class ToolResultBlock(Lenient):
    """A tool's answer to a call."""

    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1)
    content: str | Annotated[list[ResultPart], Field(max_length=MAX_PARTS)] | None = None
    is_error: Flag | None = None


class ThinkingBlock(Lenient):
    """Earlier reasoning (dropped from the prompt)."""

    type: Literal["thinking", "redacted_thinking"]


class CompactionBlock(Lenient):
    """A summary standing in for earlier turns."""

    type: Literal["compaction"]
    content: str | None = None


class ToolSpec(Lenient):
    """An offered tool: a custom tool (name, description, input_schema) or a server tool."""

    type: str | None = None
    name: str = Field(min_length=1, max_length=MAX_NAME)
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    defer_loading: Flag | None = None

    @property
    def is_custom(self) -> bool:
        """Tell a custom tool from a server tool (web_search_*, bash_*, text_editor_*, ...)."""
        return self.type in (None, "custom")

    @model_validator(mode="after")
    def _schema(self):
        if self.is_custom and self.input_schema is None:
            raise ValueError("a custom tool needs an 'input_schema' object")
        return self


class ChangedTool(Lenient):
    """The tool of a tool change: a reference by name, or a whole definition."""

    type: Literal["tool_reference", "tool_definition"]
    name: str | None = Field(None, max_length=MAX_NAME)
    definition: ToolSpec | None = None

    @model_validator(mode="after")
    def _complete(self):
        if self.type == "tool_reference" and not self.name:
            raise ValueError("a tool_reference needs a 'name'")
        if self.type == "tool_definition" and self.definition is None:
            raise ValueError("a tool_definition needs a 'definition'")
        return self


class ToolChangeBlock(Lenient):
    """A mid-conversation tool change (in a system message)."""

    type: Literal["tool_addition", "tool_removal"]
    tool: ChangedTool


Block = Annotated[Union[
    Annotated[TextBlock, Tag(TAG + "text")],
    Annotated[ImageBlock, Tag(TAG + "image")],
    Annotated[DocumentBlock, Tag(TAG + "document")],
    Annotated[SearchResultBlock, Tag(TAG + "search_result")],
    Annotated[ToolUseBlock, Tag(TAG + "tool_use")],
    Annotated[ToolResultBlock, Tag(TAG + "tool_result")],
    Annotated[ThinkingBlock, Tag(TAG + "thinking")],
    Annotated[ThinkingBlock, Tag(TAG + "redacted_thinking")],
    Annotated[CompactionBlock, Tag(TAG + "compaction")],
    Annotated[ToolChangeBlock, Tag(TAG + "tool_addition")],
    Annotated[ToolChangeBlock, Tag(TAG + "tool_removal")],
    Annotated[OtherBlock, Tag(TAG + "other")],
], Discriminator(tagger(frozenset({
    "text", "image", "document", "search_result", "tool_use", "tool_result", "thinking",
    "redacted_thinking", "compaction", "tool_addition", "tool_removal"})))]


def server_block(kind: str) -> bool:
    """Tell whether a block is server-tool traffic (web search, code execution, MCP, ...)."""
    return kind in ("server_tool_use", "mcp_tool_use", "container_upload") or \
        kind.endswith("_tool_result")


# -- the body ------------------------------------------------------------------------------

class Message(Lenient):
    """One message; `system` messages carry Claude Code's per-turn context."""

    role: Literal["user", "assistant", "system"]
    content: str | Annotated[list[Block], Field(max_length=MAX_PARTS)] | None = None
    clear_at: str | None = None

    @model_validator(mode="after")
    def _content(self):
        if self.content is None and self.role != "system":
            raise ValueError("a user or assistant message needs 'content'")
        return self


class SystemBlock(Lenient):
    """A block of the top-level `system` (text only)."""

    type: Literal["text"]
    text: str


class ThinkingSpec(Lenient):
    """`thinking`: enabled (with a budget), adaptive, disabled."""

    type: Literal["enabled", "adaptive", "disabled", "between_tools"]
    budget_tokens: Count | None = None
    display: str | None = None

    @model_validator(mode="after")
    def _budget(self):
        if self.type == "enabled" and self.budget_tokens is None:
            raise ValueError("thinking of type 'enabled' needs 'budget_tokens'")
        return self


class ToolChoiceSpec(Lenient):
    """`tool_choice`: auto, any, tool (named), none."""

    type: Literal["auto", "any", "tool", "none"]
    name: str | None = Field(None, max_length=MAX_NAME)
    disable_parallel_tool_use: Flag | None = None

    @model_validator(mode="after")
    def _named(self):
        if self.type == "tool" and not self.name:
            raise ValueError("tool_choice of type 'tool' needs a 'name'")
        return self


class OutputFormat(Lenient):
    """Structured output: a JSON schema the answer must match."""

    type: Literal["json_schema"]
    schema_: dict[str, Any] | None = Field(None, alias="schema")


class OutputConfig(Lenient):
    """`output_config` (effort is ignored; `format` asks for structured output)."""

    format: OutputFormat | None = None


class Metadata(Lenient):
    """`metadata` (not forwarded)."""

    user_id: str | None = None


class MessagesBody(Lenient):
    """The body of POST /v1/messages."""

    model: str = Field(min_length=1, max_length=MAX_NAME)
    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_tokens: Count = Field(ge=1)
    system: str | Annotated[list[SystemBlock], Field(max_length=MAX_PARTS)] | None = None
    stop_sequences: list[str] | None = Field(None, max_length=MAX_STOPS)
    stream: Flag | None = False
    metadata: Metadata | None = None
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: Count | None = Field(None, ge=0)
    thinking: ThinkingSpec | None = None
    tools: list[ToolSpec] | None = Field(None, max_length=MAX_TOOLS)
    tool_choice: ToolChoiceSpec | None = None
    output_config: OutputConfig | None = None
    output_format: OutputFormat | None = None
    context_management: dict[str, Any] | None = None
    service_tier: str | None = None


class CountTokensBody(MessagesBody):
    """The body of POST /v1/messages/count_tokens: as a message, without `max_tokens`."""

    max_tokens: Count | None = Field(None, ge=1)


# -- into the common request ---------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Options:
    """What the face itself needs beyond the ChatRequest: how to show reasoning."""

    thinking: str | None = None     # enabled / adaptive / disabled / between_tools, or None
    display: str | None = None      # summarized / omitted, or None

    @property
    def wants_thinking(self) -> bool:
        """Tell whether the request asks for thinking blocks."""
        return self.thinking in ("enabled", "adaptive", "between_tools")

    @property
    def omits_text(self) -> bool:
        """Tell whether thinking blocks carry no text (`display: omitted`)."""
        return self.display == "omitted"


def parse_messages_request(data: Any, counting: bool = False) -> tuple[ChatRequest, Options]:
    """Validate a Messages body into (ChatRequest, Options) or raise a 400 ApiError."""
    body = validate(CountTokensBody if counting else MessagesBody, data)
    tools = ToolSet(body.tools or [])
    turns = system_turns(body.system) + conversation_turns(body.messages, tools)
    choice, parallel = tool_choice(body.tool_choice, tools)
    chat = ChatRequest(
        turns=tuple(turns),
        model=body.model,
        stream=bool(body.stream) and not counting,
        stops=tuple(s for s in body.stop_sequences or [] if s),
        max_tokens=body.max_tokens,
        tools=tuple(tools.offered()),
        tool_choice=choice,
        parallel_tools=parallel,
        response_format=response_format(body),
        model_family="claude",
        call_prefix=CALL_PREFIX,
        ignored=ignored_fields(data, USED) + tools.server_names(),
    )
    thinking = body.thinking
    return chat, Options(thinking and thinking.type, thinking and thinking.display)


def system_turns(system: str | list[SystemBlock] | None) -> list[Turn]:
    """Return the top-level system prompt as one system turn (Claude Code's billing line dropped)."""
    if system is None:
        return []
    texts = [system] if isinstance(system, str) else [b.text for b in system]
    texts = [t for t in texts if t and not t.startswith(BILLING_HEADER)]
    return [Turn("system", "\n\n".join(texts))] if texts else []


def conversation_turns(messages: list[Message], tools: ToolSet) -> list[Turn]:
    """Turn the messages into conversation turns, applying tool loads and changes in order."""
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    turns = []
    for index, message in enumerate(messages):
        if message.role == "system":
            if message.clear_at == "next_user_message" and index < last_user:
                continue
            turns += system_message(message, index, tools)
        elif message.role == "assistant":
            turns += assistant_message(message, index)
        else:
            turns += user_message(message, index, tools)
    return turns


def blocks_of(message: Message) -> list:
    """Return a message's content as blocks (a string is one text block)."""
    if isinstance(message.content, str):
        return [TextBlock(type="text", text=message.content)]
    return list(message.content or [])


def system_message(message: Message, index: int, tools: ToolSet) -> list[Turn]:
    """A system message: its text joins the system instructions; tool changes apply."""
    texts = []
    for j, block in enumerate(blocks_of(message)):
        where = f"messages[{index}].content[{j}]"
        if isinstance(block, ToolChangeBlock):
            tools.change(block, where)
        elif isinstance(block, TextBlock):
            texts.append(block.text)
        else:
            raise unsupported(block, where, "a system message holds text and tool changes only")
    text = "\n\n".join(t for t in texts if t)
    return [Turn("system", text)] if text else []


def assistant_message(message: Message, index: int) -> list[Turn]:
    """An assistant message: its text and its calls (thinking is dropped)."""
    texts, calls = [], []
    for j, block in enumerate(blocks_of(message)):
        if isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ToolUseBlock):
            calls.append(PastCall(block.id, block.name, block.input))
        elif isinstance(block, CompactionBlock):
            texts.append(block.content or "")
        elif not isinstance(block, ThinkingBlock) and not dropped(block):
            raise unsupported(block, f"messages[{index}].content[{j}]",
                              "an assistant message holds text, tool_use and thinking blocks")
    text = "\n".join(t for t in texts if t)
    return [Turn("assistant", text, calls=tuple(calls))] if text or calls else []


def user_message(message: Message, index: int, tools: ToolSet) -> list[Turn]:
    """A user message: tool results first (as tool turns), then its text and images."""
    results, texts, images = [], [], []
    for j, block in enumerate(blocks_of(message)):
        where = f"messages[{index}].content[{j}]"
        if isinstance(block, ToolResultBlock):
            results.append(Turn("tool", result_text(block, where, tools), call_id=block.tool_use_id))
        elif isinstance(block, ImageBlock):
            images.append(image_uri(block, where))
        elif isinstance(block, CompactionBlock):
            texts.append(block.content or "")
        elif isinstance(block, (TextBlock, DocumentBlock, SearchResultBlock)):
            texts.append(block_text(block, where))
        elif not dropped(block):
            raise unsupported(block, where, "a user message holds text, image, document,"
                              " search_result and tool_result blocks")
    text = "\n".join(t for t in texts if t)
    user = [Turn("user", text, images=tuple(images))] if text or images else []
    return results + user


def dropped(block) -> bool:
    """Tell whether a block is left out of the prompt on purpose (server-tool traffic)."""
    return isinstance(block, OtherBlock) and server_block(block.type)


def unsupported(block, where: str, allowed: str) -> ApiError:
    """Build the 400 for a block that has no place here."""
    return ApiError(400, f"Content blocks of type {block.type[:40]!r} are not supported here;"
                    f" {allowed}.", param=where, code="invalid_value")


def block_text(block, where: str) -> str:
    """Return the text of a text, document or search_result block."""
    if isinstance(block, TextBlock):
        return block.text
    if isinstance(block, SearchResultBlock):
        body = "\n".join(part.text for part in block.content)
        return f"{block.title} ({block.source})\n{body}"
    return document_text(block, where)


def document_text(block: DocumentBlock, where: str) -> str:
    """Return a text document's text; other sources (PDF, URL, file) are refused."""
    source = block.source
    if source.type == "text" and source.data is not None:
        body = source.data
    elif source.type == "content" and source.content is not None:
        content = source.content
        body = content if isinstance(content, str) else "\n".join(p.text for p in content)
    else:
        raise ApiError(400, "Only text documents are supported (source type 'text' or"
                       " 'content'); this gateway reads no PDFs and fetches no URLs or files.",
                       param=where + ".source", code="invalid_value")
    heading = [t for t in (block.title, block.context) if t]
    return "\n".join(heading + [body])


def image_uri(block: ImageBlock, where: str) -> str:
    """Return an image as a data URI; URL and file sources are refused (nothing is fetched)."""
    source = block.source
    if source.type == "base64" and source.data and source.media_type:
        return image_data_uri(f"data:{source.media_type};base64,{source.data}", where + ".source")
    if source.type == "base64":
        raise ApiError(400, "A base64 image source needs 'media_type' and 'data'.",
                       param=where + ".source", code="invalid_value")
    raise ApiError(400, f"Image sources of type {source.type[:40]!r} are not supported: send the"
                   " image inline as a base64 source; this gateway fetches no URLs or files.",
                   param=where + ".source", code="invalid_image_url")


def result_text(block: ToolResultBlock, where: str, tools: ToolSet) -> str:
    """Return a tool result's text; `is_error` is said in it, images become placeholders."""
    content = block.content
    if content is None or isinstance(content, str):
        text = content or ""
    else:
        text = "\n".join(p for p in (result_part(part, f"{where}.content[{k}]", tools)
                                     for k, part in enumerate(content)) if p)
    return "The tool reported an error:\n" + text if block.is_error else text


def result_part(part, where: str, tools: ToolSet) -> str:
    """Return the text of one block inside a tool result."""
    if isinstance(part, ImageBlock):
        return "[image]"   # only a user turn's images travel to Lingma
    if isinstance(part, ToolReferenceBlock):
        tools.load(part.tool_name)
        return f"[tool loaded: {part.tool_name}]"
    if isinstance(part, OtherBlock):
        text = getattr(part, "text", None)
        return text if isinstance(text, str) else f"[{part.type[:40]}]"
    return block_text(part, where)


# -- tools ---------------------------------------------------------------------------------

class ToolSet:
    """The custom tools on offer: deferred ones wait for a reference; changes apply in order."""

    def __init__(self, specs: list[ToolSpec]):
        self.tools: dict[str, Tool] = {}
        self.deferred: dict[str, Tool] = {}
        self.servers = tuple(s.name for s in specs if not s.is_custom)
        for spec in specs:
            if spec.is_custom:
                (self.deferred if spec.defer_loading else self.tools)[spec.name] = to_tool(spec)

    def load(self, name: str) -> None:
        """A deferred tool was referenced: offer it from now on."""
        if name in self.deferred:
            self.tools[name] = self.deferred.pop(name)

    def change(self, block: ToolChangeBlock, where: str) -> None:
        """Apply a tool_addition or tool_removal."""
        tool = block.tool
        if block.type == "tool_removal":
            name = tool.name if tool.type == "tool_reference" else tool.definition.name
            self.tools.pop(name or "", None)
        elif tool.type == "tool_reference":
            self.load(tool.name)
        elif tool.definition.is_custom:
            self.tools[tool.definition.name] = to_tool(tool.definition)

    def offered(self) -> list[Tool]:
        """Return the tools the prompt offers."""
        return list(self.tools.values())

    def server_names(self) -> tuple[str, ...]:
        """Name the server tools accepted but left out (for the debug log)."""
        return tuple(f"tools:{name[:60]}" for name in self.servers[:20])


def to_tool(spec: ToolSpec) -> Tool:
    """Build the common Tool of a custom tool spec."""
    return function_tool(spec.name, spec.description, spec.input_schema)


def tool_choice(spec: ToolChoiceSpec | None, tools: ToolSet) -> tuple[ToolChoice, bool]:
    """Return the tool choice and whether parallel calls are allowed."""
    if spec is None:
        return ToolChoice.auto(), True
    parallel = spec.disable_parallel_tool_use is not True
    if spec.type == "tool":
        tools.load(spec.name)
        if spec.name not in tools.tools:
            raise ApiError(400, f"tool_choice names the tool {spec.name[:60]!r}, which is not"
                           " among the request's tools.", param="tool_choice.name",
                           code="invalid_value")
        return ToolChoice.named(spec.name), parallel
    mode = {"auto": "auto", "any": "required", "none": "none"}[spec.type]
    return ToolChoice(mode), parallel


def response_format(body: MessagesBody) -> ResponseFormat | None:
    """Return the structured-output request (`output_config.format` or `output_format`)."""
    spec = body.output_config.format if body.output_config else None
    spec = spec or body.output_format
    return None if spec is None else ResponseFormat(spec.schema_)
