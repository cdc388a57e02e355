"""The pydantic models of an Anthropic Messages body, as Claude Code and the SDK send it.

Content blocks are told apart by `type` (an unknown type validates as `OtherBlock`, which the
request module drops when it is server-tool traffic and refuses otherwise); unknown fields
are accepted everywhere; types are strict where Anthropic is strict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Annotated
from typing import Any
from typing import Literal
from typing import Union

from pydantic import Discriminator
from pydantic import Field
from pydantic import Tag
from pydantic import model_validator

from .validation import MAX_MESSAGES
from .validation import MAX_NAME
from .validation import MAX_PARTS
from .validation import MAX_STOPS
from .validation import MAX_TOOLS
from .validation import Count
from .validation import Flag
from .validation import Lenient
from .validation import Number

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
        """Return the tag of one block (a dict, or a model when serialising)."""
        kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        # a non-string type (an object, a list) is no tag: `other` refuses it as a 400
        return TAG + (kind if isinstance(kind, str) and kind in known else "other")
    return tag


def block_union(kinds: dict[str, type]):
    """Return the union of block models told apart by `type`; any other type is an OtherBlock."""
    members = [Annotated[model, Tag(TAG + kind)] for kind, model in kinds.items()]
    members.append(Annotated[OtherBlock, Tag(TAG + "other")])
    # a union built at run time from a list: `X | Y` cannot spell it
    return Annotated[Union[tuple(members)], Discriminator(tagger(frozenset(kinds)))]  # noqa: UP007


# The unions are built at run time (pydantic's discriminator needs each member tagged); the
# type checker, which cannot read a union a function returns, is told their members here.
if TYPE_CHECKING:
    ResultPart = TextBlock | ImageBlock | DocumentBlock | SearchResultBlock | ToolReferenceBlock | OtherBlock
else:
    ResultPart = block_union({"text": TextBlock, "image": ImageBlock, "document": DocumentBlock,
                              "search_result": SearchResultBlock,
                              "tool_reference": ToolReferenceBlock})


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
    name: str | None = Field(None, min_length=1, max_length=MAX_NAME)
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    defer_loading: Flag | None = None

    @property
    def is_custom(self) -> bool:
        """Tell a custom tool from a server tool (web_search_*, bash_*, mcp_toolset, ...)."""
        return self.type in (None, "custom")

    @model_validator(mode="after")
    def _custom(self):
        if self.is_custom and not self.name:
            raise ValueError("a custom tool needs a 'name'")
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


if TYPE_CHECKING:  # as ResultPart
    Block = (TextBlock | ImageBlock | DocumentBlock | SearchResultBlock | ToolUseBlock | ToolResultBlock
             | ThinkingBlock | CompactionBlock | ToolChangeBlock | OtherBlock)
else:
    Block = block_union({
        "text": TextBlock, "image": ImageBlock, "document": DocumentBlock,
        "search_result": SearchResultBlock, "tool_use": ToolUseBlock, "tool_result": ToolResultBlock,
        "thinking": ThinkingBlock, "redacted_thinking": ThinkingBlock, "compaction": CompactionBlock,
        "tool_addition": ToolChangeBlock, "tool_removal": ToolChangeBlock})


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


class MessagesFields(Lenient):
    """What the bodies of POST /v1/messages and /v1/messages/count_tokens hold."""

    model: str = Field(min_length=1, max_length=MAX_NAME)
    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_tokens: Count | None = Field(None, ge=1)
    system: str | Annotated[list[SystemBlock], Field(max_length=MAX_PARTS)] | None = None
    stop_sequences: list[str] | None = Field(None, max_length=MAX_STOPS)
    stream: Flag | None = False
    metadata: Metadata | None = None
    temperature: Number | None = Field(None, ge=0, le=1)
    top_p: Number | None = Field(None, ge=0, le=1)
    top_k: Count | None = Field(None, ge=0)
    thinking: ThinkingSpec | None = None
    tools: list[ToolSpec] | None = Field(None, max_length=MAX_TOOLS)
    tool_choice: ToolChoiceSpec | None = None
    output_config: OutputConfig | None = None
    output_format: OutputFormat | None = None
    context_management: dict[str, Any] | None = None
    service_tier: str | None = None


class MessagesBody(MessagesFields):
    """The body of POST /v1/messages."""

    max_tokens: Count = Field(ge=1)


class CountTokensBody(MessagesFields):
    """The body of POST /v1/messages/count_tokens: as a message, without `max_tokens`."""
