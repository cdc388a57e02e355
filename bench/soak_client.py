"""The soak's requests: what each kind sends, how it reads, and what it must get back.

Every request runs on a fresh connection (http.client, or a raw socket for bodies no client
library sends) and yields an `Outcome` whose `ok` is False only for an UNEXPECTED result:

* `ok`: a short answer, read at once; the text must be exactly the simulator's echo. One in
  twenty lists the models instead (GET /v1/models).
* `slow`: read in small pieces with pauses through a small receive buffer, short or 3,000,000
  characters (about 4 MB, past what the kernel buffers, so the worker's writes block for
  seconds); it must arrive whole.
* `drop`: the client goes away early: mid-stream, before a whole answer, mid-body, or right
  after sending. Nothing is expected beyond a started stream for `mid_stream`.
* `bad`: malformed or invalid requests; the expected 4xx is success.
* `crash`: the simulator exits mid-answer (`[[sim:crash=2]]`); the request must fail (502,
  or an error event once streaming), and the next ones must succeed while Lingma respawns:
  the first two after it are always a model list and an unknown-model stream (404).
"""

from __future__ import annotations

import http.client
import json
import random
import time

from soak_bad import run_bad
from soak_faces import FACES
from soak_http import Outcome
from soak_http import Spec
from soak_http import connect
from soak_http import events
from soak_http import pieces
from soak_http import read_answer
from soak_http import read_stream
from soak_http import send

CRASH_EVERY = 1000
CRASH_AT = 500           # the crash is request k * 1000 + 500
BIG_ANSWER = 3_000_000   # characters (about 4 MB) of a big slow answer: more than the kernel buffers
MIX = ("ok",) * 80 + ("bad",) * 8 + ("drop",) * 8 + ("slow",) * 4
VARIANTS = {
    "ok": ("plain",) * 19 + ("models",),
    "slow": ("small", "small", "big"),
    "drop": ("mid_stream", "before_answer", "mid_body", "no_read"),
    "bad": ("malformed_json", "not_object", "missing_field", "invalid_value", "unknown_model",
            "bad_key", "wrong_method", "too_large", "bad_http", "unknown_route", "bad_utf8"),
}
STREAM_ONLY, WHOLE_ONLY = {"mid_stream", "no_read"}, {"before_answer"}


def plan(index: int, seed: int = 1) -> Spec:
    """Return request `index` of the mix: every face, streamed and not, each kind."""
    face, stream = FACES[index % len(FACES)], (index // len(FACES)) % 2 == 0
    after_crash = index % CRASH_EVERY - CRASH_AT
    if after_crash == 0:
        return Spec(index, "crash", "crash", FACES[0], (index // CRASH_EVERY) % 2 == 0)
    if after_crash == 1:   # while Lingma respawns: the model list and a 404 still work
        return Spec(index, "ok", "models", face, False)
    if after_crash == 2:
        return Spec(index, "bad", "unknown_model", FACES[2], True)
    rng = random.Random(seed * 1_000_003 + index)
    kind = rng.choice(MIX)
    variant = rng.choice(VARIANTS[kind])
    stream = True if variant in STREAM_ONLY else False if variant in WHOLE_ONLY else stream
    return Spec(index, kind, variant, face, stream)


def run(spec: Spec, port: int) -> Outcome:
    """Send one planned request and judge what came back."""
    outcome, began = Outcome(spec), time.monotonic()
    try:
        RUNNERS[spec.kind](spec, port, outcome)
    except (OSError, http.client.HTTPException, ValueError, KeyError, IndexError, TypeError) as exc:
        outcome.ok, outcome.detail = False, f"{type(exc).__name__}: {exc}"
    outcome.seconds = time.monotonic() - began
    return outcome


# -- the kinds -----------------------------------------------------------------------------

def run_ok(spec: Spec, port: int, outcome: Outcome) -> None:
    """A short answer read at once (or the model list)."""
    conn = connect(port)
    try:
        if spec.variant == "models":
            list_models(conn, spec, outcome)
            return
        send(conn, spec, spec.question)
        read_answer(spec, conn.getresponse(), outcome, "You said: " + spec.question)
    finally:
        conn.close()


def list_models(conn, spec: Spec, outcome: Outcome) -> None:
    """GET /v1/models: Lingma's registry, "auto" among it."""
    conn.request("GET", "/v1/models", headers=spec.face.headers())
    resp = conn.getresponse()
    outcome.status, body = resp.status, resp.read()
    if resp.status != 200 or "auto" not in [m["id"] for m in json.loads(body)["data"]]:
        outcome.ok, outcome.detail = False, f"HTTP {resp.status}: {body[:200]!r}"


def run_slow(spec: Spec, port: int, outcome: Outcome) -> None:
    """An answer read slowly but completely through a small receive buffer."""
    big = spec.variant == "big"
    prompt = (f"{spec.question} [[sim:len={BIG_ANSWER},chunk=100000]]" if big
              else f"{spec.question} [[sim:chunks=8,delay=0.01]]")
    expected = BIG_ANSWER if big else "You said: " + spec.question
    conn = connect(port, rcvbuf=8192)
    try:
        send(conn, spec, prompt)
        read_answer(spec, conn.getresponse(), outcome, expected,
                    size=16384 if big else 64, pause=0.005 if big else 0.004)
    finally:
        conn.close()


def run_drop(spec: Spec, port: int, outcome: Outcome) -> None:
    """A client that goes away early; only a started stream is checked."""
    conn = connect(port)
    try:
        if spec.variant == "mid_body":
            drop_mid_body(conn, spec)
        elif spec.variant == "no_read":
            send(conn, spec, f"{spec.question} [[sim:chunks=10,delay=0.05]]")
        elif spec.variant == "before_answer":
            ttft = 1.5 if (spec.index // 8) % 2 else 0.3  # past the 1 s client check, or before it
            send(conn, spec, f"{spec.question} [[sim:ttft={ttft}]]")
            time.sleep(0.1)
        else:
            drop_mid_stream(conn, spec, outcome)
    finally:
        conn.close()


def drop_mid_body(conn, spec: Spec) -> None:
    """Announce a body, send part of it, hang up."""
    body = json.dumps(spec.face.body(spec.question, spec.stream)).encode()
    conn.putrequest("POST", spec.face.path)
    for name, value in spec.face.headers().items():
        conn.putheader(name, value)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body[: len(body) // 2])


def drop_mid_stream(conn, spec: Spec, outcome: Outcome) -> None:
    """Read a stream until its first text, then hang up."""
    send(conn, spec, f"{spec.question} [[sim:chunks=10,delay=0.05]]")
    resp = conn.getresponse()
    outcome.status = resp.status
    if resp.status != 200:
        outcome.ok, outcome.detail = False, f"HTTP {resp.status}: {resp.read()[:200]!r}"
        return
    for name, data in events(pieces(resp, 1024)):
        piece, ended, error = spec.face.event(name, data)
        if piece or ended:
            if error:
                outcome.ok, outcome.detail = False, f"stream error {error}"
            return


def run_crash(spec: Spec, port: int, outcome: Outcome) -> None:
    """Lingma exits mid-answer: the request must fail, as a 502 or an error event."""
    conn = connect(port)
    try:
        send(conn, spec, f"{spec.question} [[sim:crash=2]]")
        resp = conn.getresponse()
        outcome.status = resp.status
        if not spec.stream:
            body = resp.read()
            if resp.status != 502:
                outcome.ok, outcome.detail = False, f"expected 502, got {resp.status}: {body[:200]!r}"
            return
        _, error = read_stream(spec.face, pieces(resp))
        if resp.status != 200 or not error:
            outcome.ok, outcome.detail = False, f"expected a failed stream, got {resp.status} {error}"
    finally:
        conn.close()


RUNNERS = {"ok": run_ok, "slow": run_slow, "drop": run_drop, "bad": run_bad, "crash": run_crash}
