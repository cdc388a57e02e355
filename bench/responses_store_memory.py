"""The `previous_response_id` store under issue 13's scenario, in process: memory against its cap.

Each round posts a Responses request whose input is 900,000 emoji (3.6 MB as Python holds it),
then a cheap continuation of it (`previous_response_id`), through the Flask app around the
tests' fake pool (it answers at once, so only the gateway's own memory is measured). After the
rounds, tracemalloc's current figure (what stays held) and peak are printed against the store's
byte cap, with the bytes the store charges and how many responses it keeps (the peak adds
one request's own working memory to what is held). Before the fix the
held memory grew ~3.6 MB a round, past the cap; now it stays within the cap plus the app.

    python bench/responses_store_memory.py [rounds]
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import tempfile
import time
import tracemalloc

from _common import ROOT  # noqa: F401 - puts the repo on sys.path

EMOJI = "\U0001F600"
MB = 1024 * 1024


def run(rounds: int = 100, emoji: int = 900_000) -> dict:
    """Play the scenario; return the figures (bytes, seconds)."""
    from lingma_flask import create_app
    from lingma_flask.api.responses import STORE_KEY
    from tests.api.fakes import FakePool

    pool = FakePool()
    app = create_app({"TESTING": True, "LINGMA_POOL": pool})
    client, store = app.test_client(), app.extensions[STORE_KEY]
    big = json.dumps({"model": "qwen3-coder", "input": EMOJI * emoji}, ensure_ascii=False)
    gc.collect()
    tracemalloc.start()
    base, began = tracemalloc.get_traced_memory()[0], time.monotonic()
    for n in range(rounds):
        first = client.post("/v1/responses", data=big, content_type="application/json")
        first = first.get_json()
        assert "id" in first, first
        follow = client.post("/v1/responses", json={"model": "qwen3-coder", "input": f"and {n}?",
                                                     "previous_response_id": first["id"]})
        assert follow.status_code == 200, follow.get_json()
        for kept in (pool.asks, pool.images, pool.streams):   # the fake's own records
            kept.clear()
        gc.collect()   # Werkzeug's test client leaves each request body in a reference cycle
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"rounds": rounds, "seconds": time.monotonic() - began, "held": current - base,
            "peak": peak - base, "cap": store.max_bytes, "charged": store.bytes,
            "kept": len(store)}


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    logging.disable(logging.INFO)   # 200 request-log lines say nothing here
    for name in [n for n in os.environ if n.startswith("LINGMA_")]:
        del os.environ[name]
    with tempfile.TemporaryDirectory(prefix="lingma-bench-") as tmp:
        os.chdir(tmp)
        f = run(rounds)
    print(f"{f['rounds']} rounds of {900_000:,} emoji + a continuation, {f['seconds']:.1f} s")
    print(f"  store cap      {f['cap'] / MB:8.1f} MB")
    print(f"  store charges  {f['charged'] / MB:8.1f} MB   ({f['kept']} responses kept)")
    print(f"  held (current) {f['held'] / MB:8.1f} MB   ({f['held'] / f['cap']:.2f}x the cap)")
    print(f"  peak           {f['peak'] / MB:8.1f} MB")


if __name__ == "__main__":
    main()
