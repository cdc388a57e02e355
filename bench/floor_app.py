"""The bare gevent WSGI floor for `bench/seed_compare.py`: no Flask, no Lingma, no work.

Every POST reads its body, waits until its "first token" is due (`BENCH_FLOOR_TTFT` seconds,
default 0.2, after the request reached the app) and answers one SSE chunk and `[DONE]`. The
chunk's text carries the due time as a `|<monotonic_ns>|` stamp, like the simulator's
`stamp=text` chunks, so "added TTFT" here is how late the worker wrote a chunk that was due:
what one gevent worker on gunicorn costs with nothing else in it. GET /ready answers `{}`.
Served with `bench/floor.gunicorn.conf.py` (the project's gunicorn settings, no Lingma hooks).
"""

import json
import os
import time

import gevent

FIRST_TOKEN_NS = int(float(os.environ.get("BENCH_FLOOR_TTFT", "0.2")) * 1e9)


def app(environ, start_response):
    """The WSGI callable."""
    if environ.get("REQUEST_METHOD") != "POST":
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
        return [b"{}"]
    due = time.monotonic_ns() + FIRST_TOKEN_NS
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
    return _stream(due)


def _stream(due: int):
    gevent.sleep(max(0.0, (due - time.monotonic_ns()) / 1e9))
    chunk = {"object": "chat.completion.chunk",
             "choices": [{"index": 0, "delta": {"content": f"|{due}|floor"}, "finish_reason": None}]}
    yield b"data: " + json.dumps(chunk).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"
