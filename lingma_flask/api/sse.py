"""Server-Sent Events: encode frames the openai SDK parses, and build the streaming Response."""

from __future__ import annotations

import json
from collections.abc import Iterable

from flask import Response

KEEPALIVE = ": keepalive\n\n"
DONE = "data: [DONE]\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def encode(payload: dict) -> str:
    """Encode one JSON payload as a `data:` event (json.dumps keeps it on one line)."""
    return "data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n\n"


def event_stream(frames: Iterable[str], headers: dict[str, str] | None = None) -> Response:
    """Wrap a generator of SSE frames in an unbuffered text/event-stream Response."""
    return Response(frames, mimetype="text/event-stream", headers={**SSE_HEADERS, **(headers or {})})
