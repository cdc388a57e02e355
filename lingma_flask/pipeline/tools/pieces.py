"""What the call parser hands back: prose, a parsed call, or a block that could not be read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Text:
    """Prose outside any tool-call block, to stream on as content."""

    text: str


@dataclass(frozen=True)
class Call:
    """A call as the model wrote it, not yet checked against the offered tools.

    `arguments` is what the model gave: usually a dict; a string when it was a string that is
    not JSON; for the XML style (`style == "xml"`) a dict of raw string values, to be typed by
    the tool's schema.
    """

    raw: str
    name: str | None
    arguments: Any
    style: str = "json"


@dataclass(frozen=True)
class Broken:
    """A tool-call block that never closed or could not be read; `reason` says why."""

    raw: str
    reason: str


Piece = Text | Call | Broken
