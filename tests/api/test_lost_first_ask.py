"""A chat whose Lingma dies as it is sent waits for the respawn and is asked again."""

import pytest

from lingma_flask.lingma.errors import LingmaConnectionError

from .sse import content
from .sse import payloads

LOST = LingmaConnectionError("Lingma closed the connection")
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


def test_a_chat_lost_before_its_first_token_is_asked_again(client, pool):
    pool.script(LOST)
    pool.script("Hello", " again")
    resp = client.post("/v1/chat/completions", json=CHAT)
    assert resp.status_code == 200
    assert resp.get_json()["choices"][0]["message"]["content"] == "Hello again"
    assert len(pool.asks) == 2 and pool.asks[0] == pool.asks[1]   # the same prompt, once more
    assert pool.awaited, "the second ask waited for a ready Lingma"


def test_a_streamed_chat_lost_before_its_first_token_is_asked_again(client, pool):
    pool.script(LOST)
    pool.script("Hel", "lo")
    resp = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    chunks = payloads(resp.get_data(as_text=True))
    assert content(chunks) == "Hello" and chunks[-1] == "[DONE]"
    assert not any("error" in c for c in chunks if isinstance(c, dict))
    assert len(pool.asks) == 2


@pytest.mark.parametrize("script", [("Hel", LOST), (LOST,)])
def test_it_is_asked_again_at_most_once_and_never_after_a_token(client, pool, script):
    pool.script(*script)
    pool.script(LOST)
    resp = client.post("/v1/chat/completions", json=CHAT)
    assert resp.status_code == 502
    assert resp.get_json()["error"]["code"] == "lingma_connection_error"
    assert len(pool.asks) == (1 if script[0] == "Hel" else 2)
