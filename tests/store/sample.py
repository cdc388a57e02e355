"""What the store's tests feed it: a request log line's fields."""

from __future__ import annotations


def fields(n: int, key: str | None = "alice", **more) -> dict:
    """A request log line's fields, as web/record.py hands them over."""
    return {"id": f"req_{n}", "rule": "/v1/chat/completions", "route": "/v1/chat/completions",
            "key": key, "model": "qwen", "status": 200, "stream": False, "finish_reason": "stop",
            "first_token_ms": 5, "total_ms": 9, "prompt_tokens": 10, "completion_tokens": 4,
            "time": "2030-01-02T03:04:05.678+00:00", "prompt": None, **more}
