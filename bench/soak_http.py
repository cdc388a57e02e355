"""The soak client's HTTP plumbing: planned requests, outcomes, connections, SSE reading."""

from __future__ import annotations

import dataclasses
import http.client
import json
import socket
import time

from soak_faces import Face

TIMEOUT = 60.0


@dataclasses.dataclass(frozen=True)
class Spec:
    """One planned request."""

    index: int
    kind: str
    variant: str
    face: Face
    stream: bool

    @property
    def question(self) -> str:
        """The prompt's text without markers: the answer must echo it."""
        return f"soak {self.index} {self.face.name} {self.kind} {self.variant}"


@dataclasses.dataclass
class Outcome:
    """What happened to one request; `ok` is False only for an unexpected result."""

    spec: Spec
    ok: bool = True
    status: int | None = None
    detail: str = ""
    seconds: float = 0.0


def connect(port: int, rcvbuf: int | None = None) -> http.client.HTTPConnection:
    """A connection to the gateway; with `rcvbuf`, a small receive window (set before connecting)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    if rcvbuf:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(TIMEOUT)
        sock.connect(("127.0.0.1", port))
        conn.sock = sock
    return conn


def send(conn, spec: Spec, prompt: str, **extra) -> None:
    """Send the face's request for `prompt` (Connection: close on every other request)."""
    body = json.dumps({**spec.face.body(prompt, spec.stream), **extra}).encode()
    headers = spec.face.headers()
    if spec.index % 2:
        headers["Connection"] = "close"
    conn.request("POST", spec.face.path, body=body, headers=headers)


def pieces(resp, size: int = 65536, pause: float = 0.0):
    """Yield the response body in pieces of at most `size` bytes, `pause` seconds apart."""
    while True:
        data = resp.read1(size)
        if not data:
            return
        yield data
        if pause:
            time.sleep(pause)


def events(chunks):
    """Yield (event name, data) of each SSE event in a stream of byte pieces; skip comments."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            name, data = "", []
            for line in block.decode().split("\n"):
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())
            if data:
                yield name, "\n".join(data)


def read_stream(face: Face, chunks) -> tuple[str, str | None]:
    """Read a whole SSE answer; return (text, error code or None). Raise if it never ends."""
    text = []
    for name, data in events(chunks):
        piece, ended, error = face.event(name, data)
        text.append(piece)
        if ended:
            for _ in chunks:   # the body must end right after the last event
                pass
            return "".join(text), error
    raise ConnectionError("the stream ended without its final event")


def check_text(outcome: Outcome, text: str, expected: str | int) -> None:
    """Mark the outcome unexpected unless the text is the expected echo (or length)."""
    good = len(text) == expected if isinstance(expected, int) else text == expected
    if not good:
        outcome.ok, outcome.detail = False, f"wrong answer {text[:80]!r} (expected {str(expected)[:80]!r})"


def read_answer(spec: Spec, resp, outcome: Outcome, expected, size=65536, pause=0.0) -> None:
    """Read a 200 answer (stream or JSON) in pieces and check its text."""
    outcome.status = resp.status
    if resp.status != 200:
        outcome.ok, outcome.detail = False, f"HTTP {resp.status}: {resp.read()[:200]!r}"
        return
    chunks = pieces(resp, size, pause)
    if spec.stream:
        text, error = read_stream(spec.face, chunks)
        if error:
            outcome.ok, outcome.detail = False, f"stream error {error}"
            return
    else:
        text = spec.face.text(json.loads(b"".join(chunks)))
    check_text(outcome, text, expected)
