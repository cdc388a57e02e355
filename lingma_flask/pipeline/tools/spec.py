"""The values the API faces build: offered tools, checked calls, and the tool choice."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from dataclasses import field
from typing import Any

CHOICE_MODES = ("auto", "none", "required", "named")


def _empty_object_schema() -> dict:
    return {"type": "object", "properties": {}}


@dataclass(frozen=True)
class Tool:
    """A function offered to the model, with a JSON Schema for its arguments.

    `checker` is the schema compiled when the request was parsed (`check.Compiled`); without
    one, a check compiles `parameters` itself. `freeform` marks a client's custom tool offered
    as a function of one string (`freeform.py`): its calls go back as custom tool calls.
    """

    name: str
    description: str = ""
    parameters: dict = field(default_factory=_empty_object_schema)
    checker: Any = field(default=None, compare=False, repr=False)
    freeform: bool = False


@dataclass(frozen=True)
class ToolCall:
    """A checked call: an id, an offered tool's name and a JSON object of arguments.

    A call passed on invalid (LINGMA_INVALID_TOOL_CALLS=pass) carries what the model gave: a
    name that may not be offered, and arguments that may break the schema (`check.given_arguments`).
    """

    id: str
    name: str
    arguments: dict[str, Any]

    def arguments_json(self) -> str:
        """Return the arguments as JSON text, the shape OpenAI's `arguments` field carries."""
        return json.dumps(self.arguments, ensure_ascii=False)


def new_call_id(prefix: str = "call_") -> str:
    """Return a fresh call id: the prefix and 24 random hex digits."""
    return prefix + secrets.token_hex(12)


@dataclass(frozen=True)
class ToolChoice:
    """Whether the model may, must, or must not call tools, or must call one named tool."""

    mode: str = "auto"
    name: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in CHOICE_MODES:
            raise ValueError(f"tool choice mode must be one of {CHOICE_MODES}, not {self.mode!r}")
        if (self.mode == "named") != bool(self.name):
            raise ValueError("a tool choice has a name exactly when its mode is 'named'")

    @classmethod
    def auto(cls) -> ToolChoice:
        """Let the model decide."""
        return cls("auto")

    @classmethod
    def none(cls) -> ToolChoice:
        """Offer no tools."""
        return cls("none")

    @classmethod
    def required(cls) -> ToolChoice:
        """Require at least one call."""
        return cls("required")

    @classmethod
    def named(cls, name: str) -> ToolChoice:
        """Require a call of the named tool."""
        return cls("named", name)

    @property
    def requires_call(self) -> bool:
        """Tell whether an answer without a call breaks this choice."""
        return self.mode in ("required", "named")
