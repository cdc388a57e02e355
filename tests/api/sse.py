"""Read the SSE body our streaming responses produce."""

import json


def frames(body: str) -> list[str]:
    """Split a body into its raw frames (each ends with a blank line)."""
    assert body.endswith("\n\n"), body[-50:]
    return body[:-2].split("\n\n")


def payloads(body: str) -> list:
    """Decode the data frames: JSON objects, or the string "[DONE]"; comments are skipped."""
    out = []
    for frame in frames(body):
        if frame.startswith(":"):
            continue
        assert frame.startswith("data: ") and "\n" not in frame, frame
        data = frame[len("data: "):]
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


def content(chunks: list) -> str:
    """Join the content deltas of decoded chunks."""
    return "".join(c["choices"][0]["delta"].get("content") or ""
                   for c in chunks if isinstance(c, dict) and c.get("choices"))
