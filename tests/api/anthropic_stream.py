"""Read and check the Anthropic event streams of POST /v1/messages (test helper)."""

import json


def parse(body: str) -> list[tuple[str, dict]]:
    """Split an SSE body into (event name, data object) pairs; each data names its event."""
    assert body.endswith("\n\n"), body[-80:]
    out = []
    for raw in body[:-2].split("\n\n"):
        name_line, data_line = raw.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: "), raw
        name, data = name_line[len("event: "):], json.loads(data_line[len("data: "):])
        assert data["type"] == name
        out.append((name, data))
    return out


def check_grammar(stream: list[tuple[str, dict]]) -> None:
    """Assert the stream is one Claude Code accepts: blocks started before use, indices contiguous."""
    names = [name for name, _ in stream if name != "ping"]
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"] or names[-1] == "error", names
    started, stopped, open_index = [], set(), None
    for name, data in stream:
        if name == "content_block_start":
            assert open_index is None, "a block started while another is open"
            assert data["index"] == len(started), "indices must be contiguous from 0"
            started.append(data["content_block"]["type"])
            open_index = data["index"]
        elif name in ("content_block_delta", "content_block_stop"):
            assert data["index"] == open_index, f"{name} for a block that is not open: {data}"
            if name == "content_block_stop":
                stopped.add(open_index)
                open_index = None
        elif name in ("message_delta", "message_stop"):
            assert open_index is None, "the message ended with a block still open"
    assert names.count("message_start") == 1 and names.count("error") <= 1


def blocks(stream: list[tuple[str, dict]]) -> list[dict]:
    """Rebuild the content blocks from a stream, as the SDK accumulates them."""
    content = []
    for name, data in stream:
        if name == "content_block_start":
            content.append(dict(data["content_block"]))
        elif name == "content_block_delta":
            block, delta = content[data["index"]], data["delta"]
            kind = delta["type"]
            if kind == "text_delta":
                block["text"] += delta["text"]
            elif kind == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif kind == "signature_delta":
                block["signature"] = delta["signature"]
            elif kind == "input_json_delta":
                block["json"] = block.get("json", "") + delta["partial_json"]
    for block in content:
        if "json" in block:
            block["input"] = json.loads(block.pop("json"))
    return content
