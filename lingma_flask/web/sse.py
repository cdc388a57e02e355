"""Server-Sent Events: encode frames the openai SDK parses, and build the streaming Response."""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Iterable

from flask import Response

KEEPALIVE = ": keepalive\n\n"
DONE = "data: [DONE]\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def encode(payload: dict) -> str:
    """Encode one JSON payload as a `data:` event (json.dumps keeps it on one line)."""
    return "data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n\n"


SLOT = "\u0001slot\u0001"  # json.dumps escapes control characters, so this cannot occur in text


def template(payload: dict) -> Callable[[str], bytes]:
    """Return `fill(text)`: `encode(payload)` as UTF-8 bytes, `text` in place of the one SLOT.

    A stream's chunks differ only in their text, so the rest is encoded once per stream.
    """
    prefix, suffix = encode(payload).split(json.dumps(SLOT))

    head, tail = prefix.encode(), suffix.encode()

    def fill(text: str) -> bytes:
        return head + json.dumps(text, ensure_ascii=False).encode() + tail
    return fill


def event_stream(frames: Iterable[str], headers: dict[str, str] | None = None) -> Response:
    """Wrap a generator of SSE frames in an unbuffered text/event-stream Response."""
    return Response(frames, mimetype="text/event-stream", headers={**SSE_HEADERS, **(headers or {})})
