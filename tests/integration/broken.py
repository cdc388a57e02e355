"""A deliberately broken gateway for the doctor's tests: a tiny threaded stdlib HTTP server.

Non-streamed answers are right (so their checks pass); the streams are wrong in the ways a
gateway can be wrong: chat chunks without the role chunk, a 200 JSON body where a Responses
stream was asked, Anthropic SSE whose data is not JSON, a completions stream that never ends
(keepalive comments only), and a count of zero tokens.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

MODEL = "broken-model"
ANSWER = "Hello from a broken gateway."
HANG_LIMIT = 15.0   # seconds a never-ending stream goes on if the client does not leave


def chat_completion() -> dict:
    """A whole, valid chat completion."""
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": MODEL,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": ANSWER}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}}


def chat_chunks() -> list[dict]:
    """Chat chunks with content, finish and usage, but no role chunk first."""
    def chunk(delta, finish=None):
        return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0,
                "model": MODEL, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    usage = {**chunk({}), "choices": [],
             "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}}
    return [chunk({"content": ANSWER}), chunk({}, "stop"), usage]


def response() -> dict:
    """A whole, valid Responses API response."""
    return {"id": "resp_1", "object": "response", "created_at": 0, "model": MODEL,
            "status": "completed", "tool_choice": "auto", "tools": [], "parallel_tool_calls": True,
            "output": [{"type": "message", "id": "msg_1", "role": "assistant",
                        "status": "completed",
                        "content": [{"type": "output_text", "text": ANSWER, "annotations": []}]}],
            "usage": {"input_tokens": 5, "output_tokens": 5, "total_tokens": 10,
                      "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens_details": {"reasoning_tokens": 0}}}


def message() -> dict:
    """A whole, valid Anthropic message."""
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": MODEL,
            "content": [{"type": "text", "text": ANSWER}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 5}}


def completion() -> dict:
    """A whole, valid legacy text completion."""
    return {"id": "cmpl-1", "object": "text_completion", "created": 0, "model": MODEL,
            "choices": [{"index": 0, "text": ANSWER, "finish_reason": "stop", "logprobs": None}]}


class Handler(BaseHTTPRequestHandler):
    """Answers each API's route; the streams are broken."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):   # keep the test output clean
        pass

    def do_GET(self):
        """List one model; anything else is a 404."""
        if self.path.startswith("/v1/models"):
            self.send_json({"object": "list", "data": [
                {"id": MODEL, "object": "model", "created": 0, "owned_by": "test"}]})
        else:
            self.send_json({"error": {"message": "no such route"}}, 404)

    def do_POST(self):
        """Answer an API request (a client that went away is not an error)."""
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        path, streamed = self.path.split("?")[0], bool(body.get("stream"))
        try:
            self.answer(path, streamed)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the doctor gave up on a stream and went away

    def answer(self, path: str, streamed: bool):
        """Send each route's answer: right when whole, broken when streamed."""
        if path == "/v1/chat/completions":
            if streamed:
                self.send_sse("".join(f"data: {json.dumps(c)}\n\n" for c in chat_chunks())
                              + "data: [DONE]\n\n")
            else:
                self.send_json(chat_completion())
        elif path == "/v1/responses":
            self.send_json(response())   # JSON even when a stream was asked
        elif path == "/v1/messages":
            if streamed:
                self.send_sse("event: message_start\ndata: {not json\n\n")
            else:
                self.send_json(message())
        elif path == "/v1/messages/count_tokens":
            self.send_json({"input_tokens": 0})
        elif path == "/v1/completions":
            self.hang() if streamed else self.send_json(completion())
        else:
            self.send_json({"error": {"message": "no such route"}}, 404)

    def send_json(self, data: dict, status: int = 200):
        """Send a JSON body."""
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def send_sse(self, text: str):
        """Send an event-stream body of known length."""
        raw = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def hang(self):
        """Keep a stream open with keepalive comments (they reset no read timeout)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        deadline = time.monotonic() + HANG_LIMIT
        while time.monotonic() < deadline:
            self.wfile.write(b": keepalive\n\n")
            self.wfile.flush()
            time.sleep(0.2)   # the pace of the keepalives, not a wait for a condition
        self.close_connection = True


class BrokenGateway:
    """The broken server on a free loopback port, served by a background thread."""

    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.1,),
                                       daemon=True)

    def __enter__(self) -> BrokenGateway:
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
