"""What the plain checks ask, and how an answer's text is shown in a detail."""

from __future__ import annotations

import json

PROMPT = "Say hello in one short sentence."
MAX_TOKENS = 1024   # room for a real model's answer; the Messages API requires a limit
SHOWN = 60


def quote(text: str) -> str:
    """Return the start of an answer, quoted, for a detail."""
    flat = " ".join((text or "").split())
    return '"' + (flat if len(flat) <= SHOWN else flat[:SHOWN] + "…") + '"'


def plain(value):
    """Return SDK objects (also inside lists) as plain data with their set fields only."""
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    dump = getattr(value, "model_dump", None)
    return dump(exclude_none=True) if dump else value


def brief(value) -> str:
    """Return an SDK object (or a list of them) as compact JSON, for a failure's detail."""
    return json.dumps(plain(value), ensure_ascii=False, default=str)
