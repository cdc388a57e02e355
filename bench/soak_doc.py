"""Write a soak's figures into docs/reliability.md, between its own markers.

Only the text between `<!-- soak:start -->` and `<!-- soak:end -->` is replaced; the other
sections of that file belong to other tests. The file is created with the shared intro when
it does not exist yet.
"""

from __future__ import annotations

from _common import ROOT

from tests.integration.reliability_doc import INTRO

DOC = ROOT / "docs" / "reliability.md"
START, END = "<!-- soak:start -->", "<!-- soak:end -->"

HEAD = """## Soak

`bench/soak.py` sends {requests:,} requests, {concurrency} at a time, to ONE gunicorn gevent
worker serving the simulator: every API face (chat completions, Responses, Anthropic Messages,
legacy completions), streamed and not, with short answers; clients that hang up early
(mid-stream, before a whole answer, mid-body, right after sending); slow readers (a small
receive window, read in small pieces, some answers of 3,000,000 characters so that the
worker's writes block for seconds); bad requests (malformed JSON, invalid fields, unknown
model, wrong key or method, a 1 GB Content-Length, a garbage request line, ...); and a Lingma
crash every 1,000 requests (`[[sim:crash=2]]`, sent while nothing else is in flight; the
requests right after it, among them always a model list and an unknown-model stream, wait
for the respawn). A request's failure counts only when its kind does not expect it. The first
tenth of the requests warms the worker up; readings are taken at rest (nothing in flight,
descriptors settled, gevent's DNS threadpool idle) after the warm-up, halfway and at the end.
The worker runs with `MALLOC_MMAP_THRESHOLD_=131072` so that its RSS shows live memory (see
the findings).

Reproduce (writes this section; `make test` runs the 1,000-request variant,
`tests/integration/test_soak.py`, in about 35 s and leaves the file alone):

```sh
.venv/bin/python bench/soak.py --requests {requests} --write-doc
```

{requests:,} requests in {wall_s:.0f} s ({rate:.0f}/s) on the 2-core machine of
docs/benchmarks.md, {crashes} crashes after the warm-up.
"""

FINDINGS = """### What the soak found, and what changed

1. **Lingma kept a session per request, for ever.** Every chat is sent with a fresh session
   id and its whole conversation in the prompt, and the gateway never deleted the session:
   the simulator held 272 sessions after 300 requests; the real Lingma stores each one in its
   `cache/db/local.db`. Now the instance sends `chat/deleteSessionById` when a chat's stream
   closes (finished, failed or cancelled); regression test
   `tests/core/test_pool.py::test_chats_leave_no_session_behind_in_lingma`.
2. **Model names failed while Lingma respawned.** Right after a crash, `GET /v1/models`
   answered 503, and a streamed request for an unknown model got 200 and then an in-stream
   `model_not_found` instead of the 404 it gets otherwise (the stream started before the model
   was resolved). Now the pool offers the registry it read last while its instances are
   reconnecting or respawning, and a stream that waits for Lingma resolves its model first;
   regression tests `tests/core/test_pool.py::test_the_model_registry_stays_known_while_lingma_respawns`
   and `tests/api/test_chat.py::test_an_unknown_model_is_a_404_while_lingma_respawns_with_its_registry_known`.
3. **Not leaks, but worth knowing.** With glibc's defaults the worker's RSS at rest after
   multi-MB answers wanders by 5–10 MB from one reading to the next (glibc raises its mmap
   threshold after freeing a big block and then keeps freed heap resident): one 1,000-request
   soak read +19.5 % (60.5 → 72.3 MiB) that way, and 12 rounds of 4 concurrent 4 MB answers
   left 65 MiB at rest, once 70; with the threshold pinned, 59 MiB every time, and a lower
   peak. Python's own allocations (tracemalloc) grew by 97 KB over 1,000 requests, the
   bounded store of recent Responses. A 4 MB answer costs about 15 MB of peak RSS while it streams
   (the text is held by the Lingma stream and by the pipeline). A streamed Responses answer
   puts its text on the wire five times (the deltas, then `output_text.done`,
   `content_part.done`, `output_item.done` and `response.completed` carry it whole), so a slow
   reader takes five times as long. Each connection to Lingma resolves 127.0.0.1 through
   gevent's DNS threadpool, whose thread then lingers for 5 s: OS threads and greenlets are
   compared once it is idle.
"""


def section(figures: dict) -> str:
    """The soak section's text for one run's figures."""
    rate = figures["requests"] / figures["wall_s"] if figures["wall_s"] else 0.0
    lines = [HEAD.format(rate=rate, **figures), criteria_table(figures), "", mix_table(figures), "",
             FINDINGS]
    return "\n".join(lines)


def criteria_table(figures: dict) -> str:
    """One row per criterion: its figures and PASS/FAIL."""
    rows = ["| criterion | figures | result |", "| --- | --- | --- |"]
    for name, passed in figures["criteria"].items():
        rows.append(f"| {name} | {figures['explained'][name]} | {'PASS' if passed else 'FAIL'} |")
    return "\n".join(rows)


def mix_table(figures: dict) -> str:
    """The requests that ran, per kind and variant, with their client-side times."""
    rows = ["| kind | variant | requests | median (s) | max (s) |", "| --- | --- | ---: | ---: | ---: |"]
    for kind, variant, count, median, longest in figures["mix"]:
        rows.append(f"| {kind} | {variant} | {count} | {median:.3f} | {longest:.3f} |")
    return "\n".join(rows)


def write(figures: dict) -> None:
    """Put this run's section into docs/reliability.md (created with the intro if missing)."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else INTRO
    block = f"{START}\n{section(figures).strip()}\n{END}"
    if START in text and END in text.split(START, 1)[1]:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text, encoding="utf-8")
