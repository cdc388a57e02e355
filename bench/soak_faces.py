"""The four API faces as the soak's client sees them: request bodies and how to read answers.

Each face builds the body of one request and reads its answer: the text of a whole JSON
answer, and, for a stream, one server-sent event at a time (text, end, or error). The soak
checks that text against the simulator's echo, so a reply meant for another request shows.
"""

from __future__ import annotations

import json

from tests.integration.gateway import API_KEY


class Face:
    """One API face: its path, headers and body, and the readers of its answers."""

    name = ""
    path = ""

    def headers(self) -> dict[str, str]:
        """The headers of an authorised request."""
        return {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}

    def body(self, prompt: str, stream: bool) -> dict:
        """The request body asking for `prompt`'s answer."""
        raise NotImplementedError

    def text(self, answer: dict) -> str:
        """The answer text of a whole JSON answer."""
        raise NotImplementedError

    def event(self, name: str, data: str) -> tuple[str, bool, str | None]:
        """Read one SSE event: (text in it, whether the answer ended, error if it failed)."""
        raise NotImplementedError


class Chat(Face):
    """POST /v1/chat/completions."""

    name, path = "chat", "/v1/chat/completions"

    def body(self, prompt, stream):
        return {"model": "auto", "stream": stream, "messages": [{"role": "user", "content": prompt}]}

    def text(self, answer):
        return answer["choices"][0]["message"]["content"]

    def event(self, name, data):
        if data == "[DONE]":
            return "", True, None
        payload = json.loads(data)
        if "error" in payload:
            return "", True, str(payload["error"].get("code"))
        return "".join(self.piece(c) or "" for c in payload["choices"]), False, None

    def piece(self, choice: dict) -> str | None:
        """The text one streamed choice carries."""
        return (choice.get("delta") or {}).get("content")


class Responses(Face):
    """POST /v1/responses (every other answer stored for `previous_response_id`)."""

    name, path = "responses", "/v1/responses"

    def body(self, prompt, stream):
        return {"model": "auto", "stream": stream, "input": prompt, "store": len(prompt) % 2 == 0}

    def text(self, answer):
        return "".join(part["text"] for item in answer["output"] if item["type"] == "message"
                       for part in item["content"] if part["type"] == "output_text")

    def event(self, name, data):
        payload = json.loads(data)
        if name == "response.output_text.delta":
            return payload["delta"], False, None
        if name == "response.completed":
            return "", True, None
        if name in ("response.failed", "response.incomplete", "error"):
            error = (payload.get("response") or {}).get("error") or payload.get("error") or {}
            return "", True, str(error.get("code") or name)
        return "", False, None


class Messages(Face):
    """POST /v1/messages (Anthropic), with Claude Code's headers."""

    name, path = "anthropic", "/v1/messages"

    def headers(self):
        return {"x-api-key": API_KEY, "anthropic-version": "2023-06-01",
                "Content-Type": "application/json"}

    def body(self, prompt, stream):
        return {"model": "claude-sonnet-4-5", "max_tokens": 100_000_000, "stream": stream,
                "messages": [{"role": "user", "content": prompt}]}

    def text(self, answer):
        return "".join(block["text"] for block in answer["content"] if block["type"] == "text")

    def event(self, name, data):
        payload = json.loads(data)
        if name == "content_block_delta" and payload["delta"]["type"] == "text_delta":
            return payload["delta"]["text"], False, None
        if name == "message_stop":
            return "", True, None
        if name == "error":
            return "", True, str(payload["error"]["type"])
        return "", False, None


class Completions(Chat):
    """POST /v1/completions (legacy): chat's stream, with `text` in each choice."""

    name, path = "completions", "/v1/completions"

    def body(self, prompt, stream):
        return {"model": "auto", "stream": stream, "prompt": prompt, "max_tokens": 100_000_000}

    def text(self, answer):
        return answer["choices"][0]["text"]

    def piece(self, choice):
        return choice.get("text")


FACES = (Chat(), Responses(), Messages(), Completions())
