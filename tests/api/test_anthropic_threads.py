"""Anthropic message threads (`thread: create / continue`): the SDK's tool runner, kept per key."""

import json
import re

import anthropic
import httpx2
import pytest
from anthropic import beta_tool

from lingma_flask.api import anthropic_threads as threads
from lingma_flask.api.responses_store import SharedStore
from lingma_flask.lingma.errors import LingmaTimeoutError
from lingma_flask.web.identity import LOCAL

URL = "/v1/messages"
COUNT = "/v1/messages/count_tokens"
CLAUDE = "claude-opus-5-5"
BETA = {"anthropic-beta": "message-threads-2026-08-12"}
QUESTION = [{"role": "user", "content": "Weather in Paris and Rome?"}]
WEATHER = {"name": "get_weather", "description": "Get the weather of a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}


def call(city):
    return ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "%s"}}\n</tool_call>'
            % city)


@beta_tool
def get_weather(city: str) -> str:
    """Get the weather of a city."""
    return f"sunny in {city}"


@pytest.fixture
def sent():
    """The bodies the SDK sends, in order."""
    return []


@pytest.fixture
def sdk(app, sent):
    def hook(request):
        sent.append(json.loads(request.content))
    http = httpx2.Client(transport=httpx2.WSGITransport(app=app), event_hooks={"request": [hook]})
    client = anthropic.Anthropic(api_key="any", base_url="http://localhost", http_client=http,
                                 max_retries=0)
    yield client
    client.close()


def script_weather(pool):
    pool.script("Checking.\n", call("Paris"))
    pool.script(call("Rome"))
    pool.script("Both sunny.")


def runner(sdk, **kwargs):
    return sdk.beta.messages.tool_runner(model=CLAUDE, max_tokens=500, system="Be brief.",
                                         messages=QUESTION, tools=[get_weather], **kwargs)


def prompts(pool):
    """The prompts Lingma was asked, tool call ids made comparable."""
    return [re.sub(r"toolu_\w+", "toolu_X", ask[0]) for ask in pool.asks]


def store_of(app):
    return app.extensions[threads.STORE_KEY]


# -- the SDK's tool runner -----------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True])
def test_the_tool_runner_continues_a_thread_with_only_the_tool_result(sdk, pool, sent, stream):
    script_weather(pool)
    final = runner(sdk, stream=stream).until_done()
    assert [b.text for b in final.content if b.type == "text"] == ["Both sunny."]
    assert [b["thread"]["type"] for b in sent] == ["create", "continue", "continue"]
    for body in sent[1:]:   # no question, no system, no tools: the thread holds them
        assert "system" not in body and "tools" not in body
        [message] = body["messages"]
        assert [block["type"] for block in message["content"]] == ["tool_result"]
    threaded = prompts(pool)
    assert "Weather in Paris and Rome?" in threaded[2] and "Be brief." in threaded[2]
    assert "sunny in Paris" in threaded[2] and "sunny in Rome" in threaded[2]
    assert "<tools>" in threaded[2] and "Checking." in threaded[2]

    pool.asks.clear()
    script_weather(pool)
    runner(sdk, stream=stream, thread=False).until_done()   # the whole history every turn
    assert "thread" not in sent[-1] and len(sent[-1]["messages"]) == 5
    assert prompts(pool) == threaded


def test_a_lost_thread_is_replayed_whole_by_the_sdk(app, sdk, pool, sent):
    script_weather(pool)
    turns = runner(sdk)
    first = next(turns)
    assert first.stop_reason == "tool_use"
    app.extensions[threads.STORE_KEY] = threads.new_store()   # as after a restart
    rest = list(turns)
    assert [b.text for b in rest[-1].content if b.type == "text"] == ["Both sunny."]
    kinds = [b["thread"]["type"] for b in sent]
    assert kinds == ["create", "continue", "create", "continue"]
    assert len(sent[2]["messages"]) == 3 and sent[2]["system"] == "Be brief."   # replayed whole
    assert "sunny in Rome" in pool.asks[-1][0] and "Weather in Paris" in pool.asks[-1][0]


def test_thread_not_found_carries_the_code_the_sdk_branches_on(sdk):
    with pytest.raises(anthropic.NotFoundError) as info:
        sdk.beta.messages.create(model=CLAUDE, max_tokens=100, messages=QUESTION,
                                 thread={"type": "continue", "previous_message_id": "msg_nope"},
                                 betas=["message-threads-2026-08-12"])
    assert info.value.error_code == "thread_not_found"
    assert info.value.body["error"]["details"] == {"error_code": "thread_not_found"}
    assert "msg_nope" in info.value.api_message


# -- the wire format -----------------------------------------------------------------------

def create(client, headers=None, **fields):
    body = {"model": CLAUDE, "max_tokens": 100, "system": "Be brief.", "messages": QUESTION,
            "tools": [WEATHER], "thread": {"type": "create"}, **fields}
    return client.post(URL, json=body, headers={**BETA, **(headers or {})})


def follow(client, previous, headers=None, path=URL, **fields):
    body = {"model": CLAUDE, "max_tokens": 100,
            "messages": [{"role": "user", "content": "And tomorrow?"}],
            "thread": {"type": "continue", "previous_message_id": previous}, **fields}
    return client.post(path, json=body, headers={**BETA, **(headers or {})})


def test_a_thread_belongs_to_the_key_that_created_it(make_app, pool):
    client = make_app(API_KEYS="key-a,key-b").test_client()
    key_a, key_b = {"x-api-key": "key-a"}, {"x-api-key": "key-b"}
    first = create(client, key_a).get_json()["id"]
    resp = follow(client, first, key_b)
    assert resp.status_code == 404
    assert resp.get_json()["error"]["details"] == {"error_code": "thread_not_found"}
    assert follow(client, first, key_a).status_code == 200


def test_system_or_tools_that_differ_from_the_threads_are_refused(client, pool):
    first = create(client).get_json()["id"]
    resp = follow(client, first, system="Be verbose.")
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["details"] == {"error_code": "thread_fingerprint_mismatch"}
    assert "system" in error["message"]
    assert follow(client, first, tools=[]).status_code == 400
    # the same values are no change
    assert follow(client, first, system="Be brief.", tools=[WEATHER]).status_code == 200


@pytest.mark.parametrize("thread, param", [
    ({"type": "fork"}, "thread.type"),
    ({"type": "continue"}, "thread"),
    ("create", "thread"),
    ({"type": "continue", "previous_message_id": ""}, "thread.previous_message_id"),
])
def test_an_invalid_thread_is_a_400_naming_it(client, pool, thread, param):
    resp = client.post(URL, json={"model": CLAUDE, "max_tokens": 10, "messages": QUESTION,
                                  "thread": thread})
    assert resp.status_code == 400 and resp.get_json()["error"]["type"] == "invalid_request_error"
    assert f"Invalid value for '{param}'" in resp.get_json()["error"]["message"]
    assert not pool.asks


def test_a_continue_renders_the_whole_conversation_and_a_fork_is_allowed(client, pool):
    pool.script(call("Paris"))
    first = create(client).get_json()
    use = first["content"][-1]
    result = [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"],
                                            "content": "sunny"}]}]
    whole = {"model": CLAUDE, "max_tokens": 100, "system": "Be brief.", "tools": [WEATHER],
             "messages": QUESTION + [{"role": "assistant", "content": first["content"]}] + result}
    for _ in range(2):   # a message may be continued twice: each continuation forks
        assert follow(client, first["id"], messages=result).status_code == 200
    assert client.post(URL, json=whole).status_code == 200
    assert pool.asks[1][0] == pool.asks[2][0] == pool.asks[3][0]
    counted = follow(client, first["id"], path=COUNT, messages=result).get_json()
    assert counted == client.post(COUNT, json=whole).get_json()


def test_a_streamed_continue_is_kept_too(client, pool):
    first = create(client).get_json()["id"]
    resp = follow(client, first, stream=True)
    assert resp.status_code == 200
    second = json.loads(resp.get_data(as_text=True).split("data: ", 1)[1].split("\n")[0])
    second_id = second["message"]["id"]
    assert follow(client, second_id).status_code == 200
    assert "And tomorrow?" in pool.asks[-1][0] and "Weather in Paris" in pool.asks[-1][0]


def test_a_failed_answer_is_not_kept(client, pool):
    first = create(client).get_json()["id"]
    pool.script("x", LingmaTimeoutError("idle", phase="idle"))
    resp = follow(client, first, stream=True)
    text = resp.get_data(as_text=True)
    assert "event: error" in text
    failed = json.loads(text.split("data: ", 1)[1].split("\n")[0])["message"]["id"]
    assert follow(client, failed).status_code == 404
    assert follow(client, first).status_code == 200


def test_a_long_thread_keeps_each_message_once(app, client, pool):
    ids = [create(client).get_json()["id"]]
    for _ in range(5):
        ids.append(follow(client, ids[-1]).get_json()["id"])
    store = store_of(app)
    last, first = store.lookup(ids[-1], LOCAL), store.lookup(ids[0], LOCAL)
    assert len(last) == 1 + 2 + 5 * 2   # the fields, the question and answer, 5 more of each
    assert all(a is b for a, b in zip(first, last[:len(first)], strict=False))
    distinct = {id(text): text for rid in ids for text in store.lookup(rid, LOCAL)}
    texts = sum(threads.text_bytes(t) for t in distinct.values())
    assert texts < store.bytes < texts + len(ids) * 1000


def test_the_store_is_bounded_in_bytes(app, client, pool):
    store = SharedStore(threads.text_bytes, max_bytes=20_000)
    app.extensions[threads.STORE_KEY] = store
    ids = [create(client, messages=[{"role": "user", "content": "x" * 4000}]).get_json()["id"]
           for _ in range(10)]
    assert store.bytes <= 20_000 and len(store) < 10
    assert follow(client, ids[0]).status_code == 404 and follow(client, ids[-1]).status_code == 200


def test_a_thread_is_read_with_the_body_limit_of_one_request(make_app, pool):
    client = make_app(MAX_BODY_BYTES=3000).test_client()
    long = [{"role": "user", "content": "x" * 1400}]
    first = create(client, messages=long)
    assert first.status_code == 200
    resp = follow(client, first.get_json()["id"], messages=long)   # each body fits; both do not
    assert resp.status_code == 413
    error = resp.get_json()["error"]
    assert error["type"] == "request_too_large" and "LINGMA_MAX_BODY_BYTES" in error["message"]
    assert len(pool.asks) == 1
    short = follow(client, first.get_json()["id"], messages=[{"role": "user", "content": "ok"}])
    assert short.status_code == 200


def test_a_container_is_refused_not_ignored(client, pool):
    resp = client.post(URL, json={"model": CLAUDE, "max_tokens": 10, "messages": QUESTION,
                                  "container": "container_011"})
    assert resp.status_code == 400 and not pool.asks
    assert resp.get_json()["error"]["message"].startswith("container:")
    ok = client.post(URL, json={"model": CLAUDE, "max_tokens": 10, "messages": QUESTION,
                                "container": None})
    assert ok.status_code == 200
