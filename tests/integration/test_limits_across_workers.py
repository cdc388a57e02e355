"""A key's daily token budget holds across gunicorn's workers through the store (SQLite, the default).

The real gateway (gunicorn, gevent, two workers, the simulator) with `alice` limited to a daily
budget of estimated tokens. Chats go on fresh connections, so either worker answers. Once the
two workers *together* have counted the budget, each worker refuses alice with the 429 that
names the limit, a worker that itself counted less than the budget included: it knows the
other's counts only through the database. After a worker's first refusal it admits no more
(the counts only grow within a day). Waits poll with deadlines; nothing asserts on time.
"""

from __future__ import annotations

import collections
import json

import pytest
import requests

from lingma_flask.lingma.instance import wait_until
from tests.integration.gateway import Gateway

pytestmark = pytest.mark.integration

KEY = "sk-alice-budget-0123"
BUDGET = 300        # estimated tokens a day
CHAT = {"model": "qwen3-coder", "messages": [{"role": "user", "content": "Tell me about the sea, briefly."}]}
MAX_CHATS = 300     # the budget passes long before (some 20 tokens a chat)
DEADLINE = 120.0


SENT: list[int] = []


def chat(gw: Gateway) -> requests.Response:
    """One chat on a new connection (so either worker may take it); counted in SENT."""
    SENT.append(1)
    return requests.post(gw.url + "/v1/chat/completions", json=CHAT, timeout=30,
                         headers={"Authorization": f"Bearer {KEY}", "Connection": "close"})


def chat_lines(gw: Gateway) -> list[dict]:
    return [line for line in gw.request_lines() if line.get("route") == "/v1/chat/completions"]


def test_a_daily_budget_holds_across_two_workers(tmp_path):
    SENT.clear()
    gw = Gateway(tmp_path / "work", LINGMA_WORKERS="2", LINGMA_API_KEYS=f"alice:{KEY}",
                 LINGMA_KEY_LIMITS=json.dumps({"alice": {"daily_tokens": BUDGET}}),
                 LINGMA_STORE_INTERVAL="0.2").start()
    try:
        # until the workers together pass the budget: the first refusal
        refusal = None
        for _ in range(MAX_CHATS):
            resp = chat(gw)
            if resp.status_code == 429:
                refusal = resp
                break
            assert resp.status_code == 200, resp.text
        assert refusal is not None, "alice was never refused"
        error = refusal.json()["error"]
        assert error["code"] == "daily_token_limit_exceeded"
        assert "alice" in error["message"] and f"{BUDGET} estimated tokens per day" in error["message"]
        assert int(refusal.headers["Retry-After"]) >= 1 and refusal.headers["x-should-retry"] == "false"

        # then until both workers have refused alice
        refused_by: set[int] = set()

        def both_refuse() -> bool:
            chat(gw)
            lines = chat_lines(gw)
            refused_by.update(line["pid"] for line in lines if line["status"] == 429)
            return len(refused_by) == 2

        assert wait_until(both_refuse, DEADLINE, interval=0)
        for _ in range(6):
            assert chat(gw).status_code == 429
        # every chat's line (written as its response closes, read from the output a moment later)
        assert wait_until(lambda: len(chat_lines(gw)) == len(SENT), 30)
        lines = chat_lines(gw)
        admitted = collections.Counter()   # tokens each worker counted itself
        first_refusal: dict[int, int] = {}
        for n, line in enumerate(lines):
            if line["status"] == 200:
                assert line["pid"] not in first_refusal, "a worker admitted alice after refusing her"
                admitted[line["pid"]] += line["prompt_tokens"] + line["completion_tokens"]
            else:
                assert line["status"] == 429 and line["error"] == "daily_token_limit_exceeded"
                first_refusal.setdefault(line["pid"], n)
        assert sum(admitted.values()) >= BUDGET
        # a worker refused alice while it had counted less than her budget itself: the other
        # worker's counts reached it through the database
        assert any(admitted[pid] < BUDGET for pid in refused_by)
    finally:
        gw.stop()

