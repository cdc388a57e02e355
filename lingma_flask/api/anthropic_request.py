"""Turn an Anthropic Messages body into the common `ChatRequest`.

Everything Claude Code and the `anthropic` SDK send is read (the models are in
`anthropic_schema.py`): `system` (a string or text blocks), `messages` of role user /
assistant / system with text, image, document, search_result, tool_use, tool_result, thinking
and compaction blocks, custom tools (deferred ones, `tool_reference` loading and
mid-conversation tool changes included), `tool_choice`, `thinking`, `stop_sequences`,
`max_tokens` and structured output (`output_config.format`). Server tools and their result
blocks are accepted and left out of the prompt.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..pipeline.conversation import ChatRequest
from ..pipeline.conversation import PastCall
from ..pipeline.conversation import ResponseFormat
from ..pipeline.conversation import Turn
from ..pipeline.tools.budget import Budget
from ..pipeline.tools.budget import compile_budget
from ..pipeline.tools.spec import Tool
from ..pipeline.tools.spec import ToolChoice
from ..web.errors import ApiError
from .anthropic_schema import CompactionBlock
from .anthropic_schema import CountTokensBody
from .anthropic_schema import DocumentBlock
from .anthropic_schema import ImageBlock
from .anthropic_schema import Message
from .anthropic_schema import MessagesBody
from .anthropic_schema import MessagesFields
from .anthropic_schema import OtherBlock
from .anthropic_schema import SearchResultBlock
from .anthropic_schema import SystemBlock
from .anthropic_schema import TextBlock
from .anthropic_schema import ThinkingBlock
from .anthropic_schema import ToolChangeBlock
from .anthropic_schema import ToolChoiceSpec
from .anthropic_schema import ToolReferenceBlock
from .anthropic_schema import ToolResultBlock
from .anthropic_schema import ToolSpec
from .anthropic_schema import ToolUseBlock
from .anthropic_schema import server_block
from .validation import checked_schema
from .validation import function_tool
from .validation import ignored_fields
from .validation import image_data_uri
from .validation import validate

USED = frozenset({"model", "messages", "system", "max_tokens", "stop_sequences", "stream",
                  "thinking", "tools", "tool_choice", "output_config", "output_format"})
BILLING_HEADER = "x-anthropic-billing-header:"   # Claude Code's accounting line, not an instruction
CALL_PREFIX = "toolu_"


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
    if data.get("container") is not None:
        # state kept on Anthropic's servers is honoured or refused, never ignored
        raise ApiError(400, "container: this gateway runs no server tools and keeps no"
                       " containers; leave 'container' out.", param="container",
                       code="unsupported_parameter")
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
        response_format=response_format(body, tools),
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

    def __init__(self, specs: list[ToolSpec], budget: Budget | None = None):
        self.tools: dict[str, Tool] = {}
        self.deferred: dict[str, Tool] = {}
        self._budget = budget   # compiling every schema of the request: made when one comes
        self.servers = tuple(s.name or s.type for s in specs if not s.is_custom and s.type is not None)
        for index, spec in enumerate(specs):
            if spec.is_custom and spec.name:   # a custom tool has a name: ToolSpec checks it
                tool = to_tool(spec.name, spec, f"tools[{index}].input_schema", self.budget)
                (self.deferred if spec.defer_loading else self.tools)[spec.name] = tool

    @property
    def budget(self) -> Budget:
        """The budget shared by compiling every schema of the request (made at the first)."""
        if self._budget is None:
            self._budget = compile_budget()
        return self._budget

    def load(self, name: str) -> None:
        """A deferred tool was referenced: offer it from now on."""
        if name in self.deferred:
            self.tools[name] = self.deferred.pop(name)

    def change(self, block: ToolChangeBlock, where: str) -> None:
        """Apply a tool_addition or tool_removal."""
        tool, definition = block.tool, block.tool.definition
        # ChangedTool checks that a reference has a name and a definition is given
        name = tool.name if tool.type == "tool_reference" else definition.name if definition else None
        if block.type == "tool_removal":
            self.tools.pop(name or "", None)
            self.deferred.pop(name or "", None)
        elif tool.type == "tool_reference":
            self.load(name or "")
        elif definition is not None and definition.is_custom and name:
            self.tools[name] = to_tool(name, definition, f"{where}.tool.definition.input_schema",
                                       self.budget)

    def offered(self) -> list[Tool]:
        """Return the tools the prompt offers."""
        return list(self.tools.values())

    def server_names(self) -> tuple[str, ...]:
        """Name the server tools accepted but left out (for the debug log)."""
        return tuple(f"tools:{name[:60]}" for name in self.servers[:20])


def to_tool(name: str, spec: ToolSpec, param: str | None = None, budget: Budget | None = None) -> Tool:
    """Build the common Tool of a custom tool spec named `name` (a 400 naming `param` if too costly)."""
    return function_tool(name, spec.description, spec.input_schema, param, budget)


def tool_choice(spec: ToolChoiceSpec | None, tools: ToolSet) -> tuple[ToolChoice, bool]:
    """Return the tool choice and whether parallel calls are allowed."""
    if spec is None:
        return ToolChoice.auto(), True
    parallel = spec.disable_parallel_tool_use is not True
    if spec.type == "tool" and spec.name:   # ToolChoiceSpec checks that a "tool" choice names one
        tools.load(spec.name)
        if spec.name not in tools.tools:
            raise ApiError(400, f"tool_choice names the tool {spec.name[:60]!r}, which is not"
                           " among the request's tools.", param="tool_choice.name",
                           code="invalid_value")
        return ToolChoice.named(spec.name), parallel
    mode = {"auto": "auto", "any": "required", "none": "none"}[spec.type]
    return ToolChoice(mode), parallel


def response_format(body: MessagesFields, tools: ToolSet | None = None) -> ResponseFormat | None:
    """Return the structured-output request (`output_config.format` or `output_format`).

    Its schema is compiled on the budget of the request's `tools`, when given.
    """
    spec = body.output_config.format if body.output_config else None
    param = "output_config.format.schema" if spec else "output_format.schema"
    spec = spec or body.output_format
    if spec is None:
        return None
    checker = None
    if spec.schema_ is not None:
        checker = checked_schema(spec.schema_, param, tools.budget if tools is not None else None)
    return ResponseFormat(spec.schema_, checker=checker)
