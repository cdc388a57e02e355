"""The `previous_response_id` store: its byte bound, shared turns, LRU on success, per-key scope."""

import threading

import pytest

from lingma_flask.api.responses import STORE_KEY
from lingma_flask.api.responses_store import ENTRY_OVERHEAD
from lingma_flask.api.responses_store import REF_BYTES
from lingma_flask.api.responses_store import ResponseStore
from lingma_flask.api.responses_store import turn_bytes
from lingma_flask.apikeys import fingerprint_name
from lingma_flask.lingma.errors import LingmaTimeoutError
from lingma_flask.pipeline.conversation import PastCall
from lingma_flask.pipeline.conversation import Turn
from lingma_flask.web.identity import LOCAL

URL = "/v1/responses"
EMOJI = "\U0001F600"
KEY_A = {"Authorization": "Bearer key-a"}
KEY_B = {"Authorization": "Bearer key-b"}


def held(store, ids, owner=""):
    """The entries still answered and the distinct Turn objects they reach (by identity)."""
    entries = {rid: turns for rid in ids if (turns := store.lookup(rid, owner)) is not None}
    turns = {id(t): t for conversation in entries.values() for t in conversation}
    return entries, turns


def charged(entries, turns):
    """What the store should charge: every distinct turn once, plus each entry's own bytes."""
    return (sum(turn_bytes(t) for t in turns.values())
            + sum(ENTRY_OVERHEAD + REF_BYTES * len(c) for c in entries.values()))


def utf8(turns):
    """The UTF-8 bytes of every string the turns hold."""
    return sum(len(t.text.encode()) + sum(len(i.encode()) for i in t.images)
               + sum(len(c.name.encode()) + len(str(c.arguments).encode()) for c in t.calls)
               for t in turns.values())


# -- the store alone -------------------------------------------------------------------------

def test_astral_text_is_four_bytes_a_character():
    assert turn_bytes(Turn("user", EMOJI * 10_000)) >= 40_000
    assert turn_bytes(Turn("user", "a" * 9_999 + EMOJI)) >= 40_000   # as CPython holds it
    images = Turn("user", images=("data:image/png;base64," + "A" * 50_000,))
    calls = Turn("assistant", calls=(PastCall("c1", "f", '{"x": "' + EMOJI * 5_000 + '"}'),))
    assert turn_bytes(images) >= 50_000 and turn_bytes(calls) >= 20_000


def test_the_bound_holds_past_the_cap_with_shared_astral_turns():
    """The issue's scenario: a large emoji input, then a cheap continuation, round after round."""
    cap = 400_000
    store, ids = ResponseStore(max_items=1000, max_bytes=cap), []
    for n in range(100):
        base = (Turn("user", EMOJI * 20_000 + str(n)), Turn("assistant", "ok"))
        store.put(f"base{n}", base)
        earlier = store.lookup(f"base{n}")
        store.put(f"next{n}", earlier + (Turn("user", "and?"), Turn("assistant", "so.")))
        ids += [f"base{n}", f"next{n}"]
        entries, turns = held(store, ids)
        assert store.bytes == charged(entries, turns) <= cap
        assert utf8(turns) <= cap
    assert len(entries) >= 8          # the cap is used, not emptied
    assert all(f"next{n}" in entries for n in range(97, 100))


def test_shared_turns_stay_charged_when_the_entry_that_brought_them_goes():
    store = ResponseStore(max_items=2, max_bytes=10_000_000)
    big = Turn("user", EMOJI * 100_000)
    store.put("first", (big,))
    store.put("second", (big, Turn("assistant", "fine")))
    store.put("third", (Turn("user", "x"),))              # evicts "first", which charged big
    entries, turns = held(store, ["first", "second", "third"])
    assert set(entries) == {"second", "third"} and id(big) in turns
    assert store.bytes == charged(entries, turns) > 400_000
    store.put("fourth", (Turn("user", "y"),))             # the last holder of big goes
    entries, turns = held(store, ["third", "fourth"])
    assert store.bytes == charged(entries, turns) < 2_000


def test_a_turn_is_charged_once_however_many_entries_hold_it():
    store = ResponseStore(max_bytes=10_000_000)
    big = Turn("user", "x" * 500_000)
    for n in range(50):
        store.put(f"r{n}", (big, Turn("assistant", str(n))))
    store.put("r0", (big,))                               # a re-put keeps big charged once
    entries, turns = held(store, [f"r{n}" for n in range(50)])
    assert len(entries) == 50 and store.bytes == charged(entries, turns) < 600_000


def test_an_entry_alone_over_the_cap_is_not_kept_and_evicts_nothing():
    store = ResponseStore(max_bytes=100_000)
    store.put("small", (Turn("user", "hi"),))
    assert store.put("huge", (Turn("user", EMOJI * 30_000),)) is False
    assert store.lookup("huge") is None and store.lookup("small") is not None


def test_lru_by_items_and_only_touch_refreshes():
    store = ResponseStore(max_items=2)
    a, b, c, d = ((Turn("user", x),) for x in "abcd")
    store.put("a", a)
    store.put("b", b)
    assert store.lookup("a") == a       # reading does not refresh...
    store.put("c", c)
    assert store.lookup("a") is None and store.lookup("b") == b
    store.touch("b")                    # ...a success does
    store.put("d", d)
    assert store.lookup("c") is None and store.lookup("b") == b and len(store) == 2


def test_an_entry_answers_only_its_owner():
    store = ResponseStore()
    store.put("r", (Turn("user", "secret"),), owner="A")
    assert store.lookup("r", "A") is not None
    assert store.lookup("r", "B") is None and store.lookup("r") is None


def test_the_count_stays_exact_under_threads():
    store = ResponseStore(max_items=40, max_bytes=2_000_000)
    common = [Turn("user", EMOJI * 5_000 + str(n)) for n in range(10)]
    ids = [f"t{k}-{n}" for k in range(4) for n in range(300)]

    def work(k):
        for n in range(300):
            store.put(f"t{k}-{n}", (common[n % 10], common[(n * k) % 10], Turn("assistant", "a")))
    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries, turns = held(store, ids)
    assert len(entries) == 40 and store.bytes == charged(entries, turns)


# -- through /v1/responses -------------------------------------------------------------------

def body(**fields):
    return {"model": "qwen3-coder", "input": "hi", **fields}


def ask(client, headers=None, **fields):
    return client.post(URL, json=body(**fields), headers=headers or {})


@pytest.fixture
def config():
    return {"API_KEYS": "key-a,key-b"}


def test_another_keys_response_is_not_found_like_an_unknown_id(client, pool):
    pool.script("B's secret plan.")
    mine = ask(client, KEY_A, input="plan?").get_json()["id"]
    asks = len(pool.asks)
    theirs = ask(client, KEY_B, previous_response_id=mine)
    unknown = ask(client, KEY_B, previous_response_id="resp_" + "0" * len(mine[5:]))
    assert theirs.status_code == unknown.status_code == 400
    error, other = theirs.get_json()["error"], unknown.get_json()["error"]
    assert error["code"] == "previous_response_not_found"
    assert error == {**other, "message": other["message"].replace(
        "resp_" + "0" * len(mine[5:]), mine)}
    assert len(pool.asks) == asks                           # B's request never reached Lingma
    pool.script("Still secret.")
    assert ask(client, KEY_A, previous_response_id=mine).status_code == 200
    assert "B's secret plan." in pool.asks[-1][0]


def test_the_store_keeps_the_keys_name_not_the_key(client, app):
    ask(client, KEY_A)
    entry = next(iter(app.extensions[STORE_KEY]._entries.values()))
    # the name every worker and host gives the key (a plain key's is its SHA-256 fingerprint)
    assert entry.owner == fingerprint_name("key-a") and entry.owner != "key-a"


def test_keyless_local_clients_share_one_identity(make_app, pool):
    client = make_app().test_client()
    first = ask(client, {"Authorization": "Bearer dummy-1"}).get_json()["id"]
    resp = ask(client, {"Authorization": "Bearer dummy-2"}, previous_response_id=first)
    assert resp.status_code == 200
    assert client.application.extensions[STORE_KEY].lookup(first, LOCAL) is not None


def small_store(app):
    store = app.extensions[STORE_KEY] = ResponseStore(max_items=2)
    return store


def test_a_failed_continuation_neither_refreshes_nor_stores(client, app, pool):
    store = small_store(app)
    first = ask(client, KEY_A, input="one").get_json()["id"]
    second = ask(client, KEY_A, input="two").get_json()["id"]
    resp = ask(client, KEY_A, model="no-such-model", previous_response_id=first)
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "model_not_found"
    pool.script("x", LingmaTimeoutError("idle", phase="idle"))
    ask(client, KEY_A, stream=True, previous_response_id=first).get_data()   # response.failed
    assert len(store) == 2
    ask(client, KEY_A, input="three")                   # evicts the least recently used
    owner = fingerprint_name("key-a")
    assert store.lookup(first, owner) is None and store.lookup(second, owner) is not None


def test_a_successful_continuation_refreshes_what_it_continued(client, app):
    store = small_store(app)
    first = ask(client, KEY_A, input="one").get_json()["id"]
    second = ask(client, KEY_A, input="two").get_json()["id"]
    assert ask(client, KEY_A, previous_response_id=first, store=False).status_code == 200
    ask(client, KEY_A, input="three")
    owner = fingerprint_name("key-a")
    assert store.lookup(first, owner) is not None and store.lookup(second, owner) is None
