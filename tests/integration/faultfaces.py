"""The four API faces as the fault matrix drives them: one request, and its outcome as one line.

An outcome reads `<status> <code>` for a whole response — the error's `code` (OpenAI
envelope) or `error.type` (Anthropic envelope), or for an answer how it finished (`stop`,
`completed`, `end_turn`, ...) — and `stream <terminal event>` for a stream that started:
`stream error <code>`, `stream finish <reason>`, `stream response.failed <error.code>`,
`stream message_stop <stop_reason>`, ... Each face also renders the outcome the README
documents for a fault (`expected`), from the fault's place in the README's error table.
"""

from __future__ import annotations

import dataclasses
import json
import time

import requests

from tests.integration.gateway import API_KEY

CONNECT_TIMEOUT = 5.0
# README, "Anthropic Messages": the statuses Anthropic's clients get, and their error types
ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                   403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                   429: "rate_limit_error", 500: "api_error", 502: "api_error",
                   504: "timeout_error", 529: "overloaded_error"}


@dataclasses.dataclass(frozen=True)
class Expect:
    """A fault's documented result in the terms of the README's error table (the OpenAI faces)."""

    status: int          # 200: Lingma's answer arrives
    code: str            # the error code; for an answer, its finish reason
    early: bool = False  # refused before a response starts: a stream request gets the status too
    headers: tuple = ()  # retry headers an error status carries (see RETRY_HEADERS)


OK = Expect(200, "stop")
# the headers clients' retry logic reads: (header, the mark it leaves in an outcome)
RETRY_HEADERS = (("Retry-After", "Retry-After"), ("x-should-retry", "x-should-retry: false"))


def header_marks(headers) -> str:
    """` +Retry-After` / ` +x-should-retry: false` for the retry headers of an error response."""
    marks = []
    for name, mark in RETRY_HEADERS:
        value = headers.get(name)
        if value is not None and (name != "x-should-retry" or value == "false"):
            marks.append(f" +{mark}")
    return "".join(marks)


@dataclasses.dataclass
class Reply:
    """What one request came to."""

    outcome: str
    text: str = ""
    at: float = 0.0      # monotonic time the outcome arrived (whole body, or terminal event)
    ended: float = 0.0   # monotonic time the response was over
    silence: float | None = None  # a stream's longest wait for its next line (from the request)


def error_of(doc) -> dict:
    """Return the `error` object of an error body ({} when there is none)."""
    error = doc.get("error") if isinstance(doc, dict) else None
    return error if isinstance(error, dict) else {}


class Face:
    """One API face: its request, how its answers and errors read, what the README promises."""

    name = ""
    path = ""

    def headers(self) -> dict:
        """Authentication; `Connection: close` so no idle keep-alive delays a gateway's exit."""
        return {"Authorization": f"Bearer {API_KEY}", "Connection": "close"}

    def body(self, prompt: str, stream: bool) -> dict:
        """The request body asking `prompt`."""
        raise NotImplementedError

    def whole(self, status: int, doc) -> tuple[str, str]:
        """(outcome, answer text) of a whole response."""
        raise NotImplementedError

    def reader(self) -> StreamReader:
        """A fresh parser of this face's event stream."""
        raise NotImplementedError

    def answered(self, reason: str, stream: bool) -> str:
        """The outcome of an answer that finished with the pipeline's `reason`."""
        raise NotImplementedError

    def late(self, expect: Expect) -> str:
        """The terminal event of a stream that fails after it started."""
        raise NotImplementedError

    def early(self, expect: Expect) -> str:
        """`<status> <code>` of a failure answered as a whole response."""
        return f"{expect.status} {expect.code}"

    def expected(self, expect: Expect, stream: bool) -> str:
        """The outcome the README documents for a fault on this face."""
        if expect.status == 200 or (stream and expect.code == "content_filter"):
            return self.answered(expect.code, stream)
        if stream and not expect.early:
            return "stream " + self.late(expect)
        return self.early(expect) + "".join(f" +{name}" for name in expect.headers)


class StreamReader:
    """Reads one SSE stream: collects the answer text, spots the terminal event."""

    def __init__(self):
        self.text: list[str] = []
        self.finish = ""

    def feed(self, event: str | None, data: str) -> str | None:
        """Take one frame; return the outcome when it ends the stream."""
        raise NotImplementedError


class ChatReader(StreamReader):
    """`chat.completion.chunk` frames (also the legacy `text_completion` chunks)."""

    def __init__(self, text_of):
        super().__init__()
        self.text_of = text_of

    def feed(self, event, data):
        """The error frame, or `[DONE]` after the finish chunk, ends it."""
        if data == "[DONE]":
            return f"stream finish {self.finish or '(none)'}"
        doc = json.loads(data)
        if "error" in doc:
            return f"stream error {error_of(doc).get('code')}"
        for choice in doc.get("choices") or []:
            self.text.append(self.text_of(choice) or "")
            self.finish = choice.get("finish_reason") or self.finish
        return None


class Chat(Face):
    """POST /v1/chat/completions."""

    name, path = "chat", "/v1/chat/completions"

    def body(self, prompt, stream):
        """One user message."""
        return {"model": "auto", "stream": stream,
                "messages": [{"role": "user", "content": prompt}]}

    def whole(self, status, doc):
        """The finish reason and the message content, or the error code."""
        if status != 200:
            return f"{status} {error_of(doc).get('code')}", ""
        choice = doc["choices"][0]
        return f"200 {choice['finish_reason']}", choice["message"].get("content") or ""

    def reader(self):
        """Chunks with `delta.content`."""
        return ChatReader(lambda choice: (choice.get("delta") or {}).get("content"))

    def answered(self, reason, stream):
        """The finish chunk then `[DONE]`; or `finish_reason`."""
        return f"stream finish {reason}" if stream else f"200 {reason}"

    def late(self, expect):
        """One `{"error": ...}` frame."""
        return f"error {expect.code}"


class Completions(Chat):
    """POST /v1/completions (one prompt; max_tokens high enough for every answer)."""

    name, path = "completions", "/v1/completions"

    def body(self, prompt, stream):
        """One prompt."""
        return {"model": "auto", "stream": stream, "prompt": prompt, "max_tokens": 256}

    def whole(self, status, doc):
        """The choice's finish reason and text, or the error code."""
        if status != 200:
            return f"{status} {error_of(doc).get('code')}", ""
        choice = doc["choices"][0]
        return f"200 {choice['finish_reason']}", choice.get("text") or ""

    def reader(self):
        """Chunks with `text`."""
        return ChatReader(lambda choice: choice.get("text"))


class ResponsesReader(StreamReader):
    """Responses API events."""

    def feed(self, event, data):
        """`response.completed`, `.incomplete` or `.failed` ends it."""
        doc = json.loads(data)
        kind = doc.get("type") or event
        response = doc.get("response") or {}
        if kind == "response.output_text.delta":
            self.text.append(doc.get("delta") or "")
        elif kind == "response.completed":
            return "stream response.completed"
        elif kind == "response.incomplete":
            reason = (response.get("incomplete_details") or {}).get("reason")
            return f"stream response.incomplete {reason}"
        elif kind == "response.failed":
            return f"stream response.failed {(response.get('error') or {}).get('code')}"
        return None


class Responses(Face):
    """POST /v1/responses (store: false, as Codex sends it)."""

    name, path = "responses", "/v1/responses"
    # README: a failed stream's error.code is one Codex acts on
    PASSED = ("insufficient_quota", "context_length_exceeded")

    def body(self, prompt, stream):
        """The prompt as `input`."""
        return {"model": "auto", "stream": stream, "input": prompt, "store": False}

    def whole(self, status, doc):
        """The response status (and incomplete reason) and its message text, or the error code."""
        if status != 200:
            return f"{status} {error_of(doc).get('code')}", ""
        text = "".join(part.get("text", "") for item in doc.get("output", [])
                       if item.get("type") == "message" for part in item.get("content", []))
        reason = (doc.get("incomplete_details") or {}).get("reason")
        return f"200 {doc['status']}" + (f" {reason}" if reason else ""), text

    def reader(self):
        """Events named by their `type`."""
        return ResponsesReader()

    def answered(self, reason, stream):
        """`completed`, or `incomplete` with the reason."""
        state = "completed" if reason in ("stop", "tool_calls") else f"incomplete {reason}"
        return f"stream response.{state}" if stream else f"200 {state}"

    def late(self, expect):
        """`response.failed` with a code Codex acts on."""
        if expect.code in self.PASSED:
            code = expect.code
        else:
            code = "rate_limit_exceeded" if expect.status == 429 else "server_error"
        return f"response.failed {code}"

    def early(self, expect):
        """The OpenAI envelope; busy reads as the rate limit Codex retries."""
        code = "rate_limit_exceeded" if expect.code == "lingma_busy" else expect.code
        return f"{expect.status} {code}"


class AnthropicReader(StreamReader):
    """Anthropic Messages events."""

    def feed(self, event, data):
        """`message_stop` or `error` ends it."""
        doc = json.loads(data)
        kind = doc.get("type") or event
        if kind == "content_block_delta" and (doc.get("delta") or {}).get("type") == "text_delta":
            self.text.append(doc["delta"].get("text") or "")
        elif kind == "message_delta":
            self.finish = (doc.get("delta") or {}).get("stop_reason") or ""
        elif kind == "message_stop":
            return f"stream message_stop {self.finish or '(none)'}"
        elif kind == "error":
            return f"stream error {error_of(doc).get('type')}"
        return None


class Anthropic(Face):
    """POST /v1/messages (a Claude model name: Lingma's default model answers)."""

    name, path = "anthropic", "/v1/messages"
    STOPS = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal"}

    def headers(self):
        """`x-api-key` as Claude Code sends it."""
        return {"x-api-key": API_KEY, "anthropic-version": "2023-06-01", "Connection": "close"}

    def body(self, prompt, stream):
        """One user message."""
        return {"model": "claude-sonnet-4-5", "max_tokens": 256, "stream": stream,
                "messages": [{"role": "user", "content": prompt}]}

    def whole(self, status, doc):
        """The stop reason and the text blocks, or the error type."""
        if status != 200:
            return f"{status} {error_of(doc).get('type')}", ""
        text = "".join(b.get("text", "") for b in doc.get("content", []) if b.get("type") == "text")
        return f"200 {doc.get('stop_reason')}", text

    def reader(self):
        """Named events."""
        return AnthropicReader()

    def answered(self, reason, stream):
        """`message_stop` after the stop reason; or `stop_reason`."""
        stop = self.STOPS.get(reason, reason)
        return f"stream message_stop {stop}" if stream else f"200 {stop}"

    @staticmethod
    def status(expect: Expect) -> int:
        """README: not logged in is 500; gateway capacity (busy, the 503s) is 529."""
        if expect.code == "lingma_not_logged_in":
            return 500
        if expect.code == "lingma_busy" or expect.status == 503:
            return 529
        return expect.status

    def late(self, expect):
        """`event: error` with the type of the status."""
        return f"error {ANTHROPIC_TYPES[self.status(expect)]}"

    def early(self, expect):
        """Anthropic's envelope with its status."""
        status = self.status(expect)
        return f"{status} {ANTHROPIC_TYPES[status]}"


FACES = (Chat(), Responses(), Anthropic(), Completions())


def call(face: Face, url: str, prompt: str, stream: bool, limit: float) -> Reply:
    """Ask `prompt` on `face`; give up (outcome `hang: ...`) after `limit` seconds."""
    deadline = time.monotonic() + limit
    try:
        resp = requests.post(url + face.path, json=face.body(prompt, stream),
                             headers=face.headers(), stream=stream,
                             timeout=(CONNECT_TIMEOUT, limit))
    except requests.Timeout:
        return Reply(f"hang: no response within {limit:g} s", at=time.monotonic())
    except requests.RequestException as exc:
        return Reply(f"broken: {type(exc).__name__}", at=time.monotonic())
    with resp:
        events = "text/event-stream" in resp.headers.get("Content-Type", "")
        if stream and resp.status_code == 200 and events:
            return read_stream(face, resp, deadline, began=deadline - limit)
        try:
            doc = resp.json()
        except ValueError:
            doc = {}
        outcome, text = face.whole(resp.status_code, doc)
        if resp.status_code != 200:
            outcome += header_marks(resp.headers)
        now = time.monotonic()
        return Reply(outcome, text, now, now)


def read_stream(face: Face, resp, deadline: float, began: float) -> Reply:
    """Read a stream to its end; the outcome is its terminal event, which must also be its last."""
    gaps = [began]
    reply = _read_stream(face, resp, deadline, gaps)
    reply.ended = time.monotonic()
    reply.silence = round(max(b - a for a, b in zip(gaps, gaps[1:] + [reply.ended], strict=True)), 2)
    return reply


def _read_stream(face: Face, resp, deadline: float, gaps: list) -> Reply:
    """Parse the lines (noting when each came in `gaps`) up to the end of the stream."""
    reader, reply, event = face.reader(), None, None
    try:
        for line in resp.iter_lines(decode_unicode=True):
            gaps.append(time.monotonic())
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                if reply is not None:
                    return Reply(reply.outcome + ", then more data", reply.text, reply.at)
                outcome = reader.feed(event, line[5:].strip())
                if outcome is not None:
                    reply = Reply(outcome, "".join(reader.text), time.monotonic())
            if time.monotonic() > deadline:
                what = reply.outcome + ", then no end" if reply else "hang: no outcome"
                return Reply(f"{what} within the limit", "".join(reader.text), time.monotonic())
    except requests.RequestException as exc:
        return Reply(f"cut: {type(exc).__name__}", "".join(reader.text), time.monotonic())
    return reply or Reply("cut: the stream ended without an outcome", "".join(reader.text),
                          time.monotonic())
