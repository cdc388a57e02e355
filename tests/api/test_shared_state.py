"""Stored responses and Anthropic threads continued by another app instance (another worker or
host) through the store's database: SQLite, then PostgreSQL. Scoped to the key's name, expiring,
capped in bytes; a database that cannot be read is a 503 for a lookup, and nothing else."""

from __future__ import annotations

import datetime
import json

import pytest
from sqlalchemy import event
from sqlalchemy import select
from sqlalchemy import update

from lingma_flask.api.responses_store import ResponseStore
from lingma_flask.api.responses_store import turns_from_json
from lingma_flask.api.responses_store import turns_json
from lingma_flask.ops.usage import start_writer
from lingma_flask.ops.usage import stop_writer
from lingma_flask.ops.usage import store_of
from lingma_flask.pipeline.conversation import PastCall
from lingma_flask.pipeline.conversation import Turn
from lingma_flask.store import tables
from lingma_flask.store import usage
from tests.pg import free_port
from tests.pg import wait_for

KEYS = "alice:sk-alice-0123,bob:sk-bob-0123"
ALICE = {"Authorization": "Bearer sk-alice-0123"}
BOB = {"Authorization": "Bearer sk-bob-0123"}
RESPONSES = "/v1/responses"
MESSAGES = "/v1/messages"
CLAUDE = "claude-opus-5-5"
WEATHER = {"name": "get_weather", "description": "Get the weather of a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_url(request, tmp_path) -> str:
    """The database a test's app instances share: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'work' / 'lingma.db'}"
    return request.getfixturevalue("postgres").create_database()


@pytest.fixture
def workers(make_app):
    """Build app instances with running store writers, as gunicorn's workers have them."""
    made = []

    def make(url: str, migrate: bool = True, **config):
        app = make_app(DATABASE_URL=url, API_KEYS=KEYS, **{"STORE_INTERVAL": "5", **config})
        if migrate:   # one after the other: two first rounds migrating at once may find it locked
            store_of(app).ensure_schema()
        start_writer(app)
        made.append(app)
        return app.test_client()

    yield make
    for app in made:
        stop_writer(app, timeout=5)


def respond(client, headers=ALICE, **fields):
    return client.post(RESPONSES, json={"model": "qwen3-coder", "input": "hi", **fields},
                       headers=headers)


def streamed_id(resp) -> str:
    """The id of a streamed response, from its `response.completed` event."""
    for line in resp.get_data(as_text=True).splitlines():
        if line.startswith("data: ") and '"response.completed"' in line:
            return json.loads(line[6:])["response"]["id"]
    raise AssertionError("no response.completed event")


def row(client, name: str):
    with store_of(client.application).connect() as connection:
        return connection.execute(select(tables.shared_state)
                                  .where(tables.shared_state.c.name == name)).first()


def expire(client, name: str) -> None:
    with store_of(client.application).engine.begin() as connection:
        connection.execute(update(tables.shared_state).where(tables.shared_state.c.name == name)
                           .values(expires_at=usage.utcnow() - datetime.timedelta(seconds=1)))


# -- previous_response_id -----------------------------------------------------------------

def test_a_chain_of_responses_continues_whichever_worker_answers(workers, pool, shared_url):
    one, two = workers(shared_url), workers(shared_url)
    pool.script("The number is 42.")
    previous = respond(one, input="Remember 42.").get_json()["id"]
    for hop, worker in enumerate([two, one, two, two, one]):
        stream = hop == 2
        resp = respond(worker, input=f"Hop {hop}?", previous_response_id=previous, stream=stream)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        previous = streamed_id(resp) if stream else resp.get_json()["id"]
        prompt = pool.asks[-1][0]
        assert "Remember 42." in prompt and "The number is 42." in prompt
        assert all(f"Hop {n}?" in prompt for n in range(hop + 1))
    stored = wait_for(lambda: row(two, previous))
    assert stored.owner == "alice" and stored.scope == "response"
    assert [turn.text for turn in turns_from_json(stored.value)][:2] == ["Remember 42.", "The number is 42."]


def test_another_keys_response_is_not_found_on_another_worker(workers, pool, shared_url):
    one, two = workers(shared_url), workers(shared_url)
    mine = respond(one, input="A secret.").get_json()["id"]
    wait_for(lambda: row(two, mine))
    asks = len(pool.asks)
    theirs = respond(two, BOB, previous_response_id=mine)
    assert theirs.status_code == 400
    assert theirs.get_json()["error"]["code"] == "previous_response_not_found"
    assert len(pool.asks) == asks
    assert respond(two, previous_response_id=mine).status_code == 200


def test_an_expired_response_is_not_found(workers, shared_url):
    # expired: refused when read, and deleted by a writer's retention chore (then absent)
    one, two = (workers(shared_url, STORE_INTERVAL="0.5") for _ in range(2))
    rid = respond(one).get_json()["id"]
    wait_for(lambda: row(two, rid))
    expire(two, rid)
    resp = respond(two, previous_response_id=rid)
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "previous_response_not_found"


def test_a_response_over_the_byte_cap_stays_with_its_worker(workers, shared_url):
    one, two = (workers(shared_url, STATE_MAX_BYTES="2000", STORE_INTERVAL="0.5") for _ in range(2))
    big = respond(one, input="x" * 3000).get_json()["id"]
    small = respond(one, input="small").get_json()["id"]
    wait_for(lambda: row(two, small))    # written after the big one: that one was left out
    assert row(two, big) is None
    assert respond(two, previous_response_id=big).status_code == 400
    assert respond(one, previous_response_id=big).status_code == 200   # its own memory
    assert respond(two, previous_response_id=small).status_code == 200


def test_a_workers_own_responses_cost_no_database_read(workers, shared_url):
    one = workers(shared_url)
    reads = []
    event.listen(store_of(one.application).engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: reads.append(statement)
                 if statement.lstrip().upper().startswith("SELECT") and "shared_state" in statement
                 else None)
    first = respond(one).get_json()["id"]
    assert respond(one, previous_response_id=first).status_code == 200
    assert respond(one, input="no previous").status_code == 200
    assert one.post("/v1/chat/completions", headers=ALICE,
                    json={"model": "qwen3-coder", "messages": [{"role": "user", "content": "hi"}]}
                    ).status_code == 200
    assert reads == []


# -- Anthropic message threads -------------------------------------------------------------

def thread_body(**fields):
    return {"model": CLAUDE, "max_tokens": 100, **fields}


def test_a_thread_continues_on_another_worker_for_its_key_only(workers, pool, shared_url):
    one, two = workers(shared_url), workers(shared_url)
    pool.script("Checking.\n", CALL)
    first = one.post(MESSAGES, headers=ALICE, json=thread_body(
        system="Be brief.", tools=[WEATHER], thread={"type": "create"},
        messages=[{"role": "user", "content": "Weather in Paris?"}]))
    assert first.status_code == 200
    message = first.get_json()
    [use] = [b for b in message["content"] if b["type"] == "tool_use"]
    wait_for(lambda: row(two, message["id"]))
    follow = thread_body(thread={"type": "continue", "previous_message_id": message["id"]},
                         messages=[{"role": "user", "content": [
                             {"type": "tool_result", "tool_use_id": use["id"], "content": "sunny"}]}])
    pool.script("Sunny in Paris.")
    resp = two.post(MESSAGES, headers=ALICE, json=follow)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["content"] == [{"type": "text", "text": "Sunny in Paris."}]
    prompt = pool.asks[-1][0]
    for part in ("Be brief.", "<tools>", "Weather in Paris?", "<tool_call>", "sunny"):
        assert part in prompt
    theirs = two.post(MESSAGES, headers=BOB, json=follow)
    assert theirs.status_code == 404
    assert theirs.get_json()["error"]["details"] == {"error_code": "thread_not_found"}
    expire(two, message["id"])
    third = workers(shared_url, STORE_INTERVAL="0.5")
    gone = third.post(MESSAGES, headers=ALICE, json=follow)
    assert gone.status_code == 404
    assert gone.get_json()["error"]["details"] == {"error_code": "thread_not_found"}


def test_a_thread_over_the_byte_cap_stays_with_its_worker(workers, shared_url):
    one, two = (workers(shared_url, STATE_MAX_BYTES="2000", STORE_INTERVAL="0.5") for _ in range(2))
    big = one.post(MESSAGES, headers=ALICE, json=thread_body(
        thread={"type": "create"}, messages=[{"role": "user", "content": "x" * 3000}])).get_json()["id"]
    small = one.post(MESSAGES, headers=ALICE, json=thread_body(
        thread={"type": "create"}, messages=[{"role": "user", "content": "hi"}])).get_json()["id"]
    wait_for(lambda: row(two, small))
    assert row(two, big) is None
    follow = {"thread": {"type": "continue", "previous_message_id": big},
              "messages": [{"role": "user", "content": "more"}]}
    assert two.post(MESSAGES, headers=ALICE, json=thread_body(**follow)).status_code == 404
    assert one.post(MESSAGES, headers=ALICE, json=thread_body(**follow)).status_code == 200


# -- an outage -----------------------------------------------------------------------------

def test_a_database_that_cannot_be_read_is_a_503_for_a_lookup_only(workers, pool):
    dead = workers(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone", migrate=False,
                   STORE_INTERVAL="0.2")
    resp = respond(dead, previous_response_id="resp_" + "0" * 48)
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "5" and resp.headers["x-should-retry"] == "true"
    error = resp.get_json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["code"], error["param"], error["type"]) == ("store_unavailable", "previous_response_id",
                                                             "server_error")
    assert error["message"].startswith("The shared store is unavailable")
    assert "127.0.0.1" not in error["message"]   # the driver's reason goes to the log only
    # what names no kept state never touches the database, nor does a name the gateway never gives
    assert respond(dead).status_code == 200
    typo = respond(dead, previous_response_id="resp_" + "0" * 47)
    assert typo.status_code == 400 and typo.get_json()["error"]["code"] == "previous_response_not_found"
    assert dead.post(MESSAGES, headers=ALICE, json=thread_body(
        messages=[{"role": "user", "content": "hi"}])).status_code == 200
    threaded = dead.post(MESSAGES, headers=ALICE, json=thread_body(
        thread={"type": "continue", "previous_message_id": "msg_" + "e" * 32},
        messages=[{"role": "user", "content": "hi"}]))
    # Anthropic's face answers a 503 as its clients expect it: 529 overloaded, Retry-After kept
    assert threaded.status_code == 529 and threaded.headers["Retry-After"] == "5"
    body = threaded.get_json()
    assert body["error"]["type"] == "overloaded_error"
    assert body["error"]["message"].startswith("The shared store is unavailable: thread 'msg_eeee")


# -- the pieces ------------------------------------------------------------------------------

def test_turns_survive_their_json():
    turns = (Turn("user", "Hi \U0001F600", images=("data:image/png;base64,AAAA",)),
             Turn("assistant", "", calls=(PastCall("call_1", "f", '{"a": 1}'),
                                          PastCall(None, "g", {"b": [2]}))),
             Turn("tool", "42", call_id="call_1", name="f"))
    assert turns_from_json(turns_json(turns)) == turns


def test_a_memory_entry_with_a_ttl_is_forgotten_after_it():
    store = ResponseStore()
    store.put("resp_kept", (Turn("user", "a"),), "alice", ttl=3600)
    store.put("resp_gone", (Turn("user", "b"),), "alice", ttl=0)
    assert store.lookup("resp_kept", "alice") is not None
    assert store.lookup("resp_gone", "alice") is None and len(store) == 1


def test_the_names_looked_up_in_the_database_are_the_ones_the_gateway_mints():
    from lingma_flask.api.anthropic import new_message_id
    from lingma_flask.api.anthropic_threads import MESSAGE_ID
    from lingma_flask.api.responses_shapes import RESPONSE_ID
    from lingma_flask.api.responses_shapes import new_id

    assert RESPONSE_ID.fullmatch(new_id("resp_")) and MESSAGE_ID.fullmatch(new_message_id())
    assert not RESPONSE_ID.fullmatch(new_id("msg_")) and not MESSAGE_ID.fullmatch("msg_" + "A" * 32)
