"""Server-Sent Events: the one codec every face's stream is framed with, and the Response.

A frame is an optional `event: <name>` line (Anthropic's and the Responses API's named events),
one `data: <json>` line and a blank line; `: <text>` is a comment (keepalives for proxies);
the OpenAI chat and completions streams end with `data: [DONE]`.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable

from flask import Response

from ..jsontext import compact
from ..jsontext import string


def comment(text: str) -> str:
    """Encode an SSE comment: clients skip it, proxies see the connection is alive."""
    return f": {text}\n\n"


KEEPALIVE = comment("keepalive")
DONE = "data: [DONE]\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def encode(payload: dict, event: str | None = None) -> str:
    """Encode one JSON payload as a `data:` event (compact JSON keeps it on one line), named by
    an `event:` line when `event` is given."""
    data = "data: " + compact(payload) + "\n\n"
    return data if event is None else f"event: {event}\n" + data


SLOT = "\u0001slot\u0001"  # JSON escapes control characters, so this cannot occur in text


def template(payload: dict, event: str | None = None) -> Callable[..., bytes]:
    """Return `fill(*values)`: `encode(payload, event)` as UTF-8 bytes, each value JSON-encoded
    in place of a SLOT, in the order the SLOTs are encoded (usually one: `fill(text)`).

    A stream's chunks differ only in their text (and a sequence number), so the rest is encoded
    once per stream.
    """
    head, *rest = (piece.encode() for piece in encode(payload, event).split(string(SLOT)))
    if len(rest) == 1:
        tail = rest[0]

        def fill(text: str) -> bytes:
            return head + string(text).encode() + tail
        return fill

    def fill_all(*values: object) -> bytes:
        return head + b"".join(compact(value).encode() + piece
                               for value, piece in zip(values, rest, strict=True))
    return fill_all


def event_stream(frames: Iterable[str], headers: dict[str, str] | None = None) -> Response:
    """Wrap a generator of SSE frames in an unbuffered text/event-stream Response."""
    return Response(frames, mimetype="text/event-stream", headers={**SSE_HEADERS, **(headers or {})})
