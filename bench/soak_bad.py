"""The soak's bad requests: malformed or invalid on purpose; the expected 4xx is success.

Each variant sends one broken request on a fresh connection and names the status the
gateway must answer. Bodies no client library would send (a huge Content-Length with no
body, a garbage request line) go over a raw socket.
"""

from __future__ import annotations

import json
import socket

from soak_http import TIMEOUT
from soak_http import Outcome
from soak_http import Spec
from soak_http import connect

MISSING = {"chat": "messages", "responses": "input", "anthropic": "max_tokens",
           "completions": "prompt"}
INVALID = {"chat": {"n": 3}, "responses": {"input": 5}, "anthropic": {"messages": "hi"},
           "completions": {"echo": True}}


def body_of(spec: Spec, variant: str) -> tuple[bytes, dict]:
    """Return the body and extra headers of a variant sent over http.client."""
    good = spec.face.body(spec.question, spec.stream)
    name = spec.face.name
    if variant == "malformed_json":
        return json.dumps(good).encode()[:-7], {}
    if variant == "not_object":
        return b"[1, 2, 3]", {}
    if variant == "bad_utf8":
        return b'{"model": "\xff\xfe"}', {}
    if variant == "missing_field":
        return json.dumps({k: v for k, v in good.items() if k != MISSING[name]}).encode(), {}
    if variant == "invalid_value":
        return json.dumps({**good, **INVALID[name]}).encode(), {}
    if variant == "unknown_model":
        return json.dumps({**good, "model": "no-such-model-soak"}).encode(), {}
    if variant == "bad_key":
        return json.dumps(good).encode(), {"Authorization": "Bearer wrong", "x-api-key": "wrong"}
    return json.dumps(good).encode(), {}


EXPECTED = {"malformed_json": 400, "not_object": 400, "bad_utf8": 400, "missing_field": 400,
            "invalid_value": 400, "unknown_model": 404, "bad_key": 401, "wrong_method": 405,
            "unknown_route": 404, "too_large": 413, "bad_http": 400}


def run_bad(spec: Spec, port: int, outcome: Outcome) -> None:
    """Send one broken request; anything but its expected status is unexpected."""
    expected = EXPECTED[spec.variant]
    if spec.variant in ("too_large", "bad_http"):
        outcome.status, detail = raw_request(port, spec)
    else:
        outcome.status, detail = client_request(port, spec)
    if outcome.status != expected:
        outcome.ok, outcome.detail = False, f"expected {expected}, got {outcome.status}: {detail[:200]}"


def client_request(port: int, spec: Spec) -> tuple[int, str]:
    """Send a variant with http.client; return the status and the start of the body."""
    body, extra = body_of(spec, spec.variant)
    headers = {**spec.face.headers(), **extra}
    # PUT: no face takes it (GET /v1/responses is the WebSocket upgrade: 426 without one)
    method = "PUT" if spec.variant == "wrong_method" else "POST"
    path = "/v1/no-such-route" if spec.variant == "unknown_route" else spec.face.path
    conn = connect(port)
    try:
        conn.request(method, path, body=None if method == "PUT" else body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def raw_request(port: int, spec: Spec) -> tuple[int, str]:
    """Send a request no client library would, over a raw socket; return status and reply."""
    if spec.variant == "too_large":
        head = f"POST {spec.face.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in spec.face.headers().items()) + "\r\n"
        data = head.encode()
    else:
        data = b"P\x00ST /v1/chat/completions HTTP/1.1 extra\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    line = reply.split(b"\r\n", 1)[0].split()
    return (int(line[1]) if len(line) > 1 else 0), reply.decode(errors="replace")
