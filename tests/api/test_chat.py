"""POST /v1/chat/completions: shapes, streaming, stop, max_tokens, keepalive, disconnects."""

import pytest

from lingma_flask.lingma.errors import LingmaContentFilterError
from lingma_flask.lingma.errors import LingmaNotReadyError
from lingma_flask.lingma.errors import LingmaShutdownError
from lingma_flask.lingma.errors import LingmaTimeoutError

from .fakes import TICK
from .sse import content
from .sse import frames
from .sse import payloads

URL = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]


def body(**fields):
    return {"model": "qwen3-coder", "messages": HI, **fields}


# -- non-streamed ------------------------------------------------------------------------

def test_non_stream_has_the_exact_openai_shape(client, pool):
    pool.script("Hello", " world")
    resp = client.post(URL, json=body())
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    assert resp.headers["x-lingma-usage"] == "estimated"
    data = resp.get_json()
    assert set(data) == {"id", "object", "created", "model", "system_fingerprint", "choices", "usage"}
    assert data["id"].startswith("chatcmpl-")
    assert data["object"] == "chat.completion"
    assert isinstance(data["created"], int)
    assert data["model"] == "qwen3-coder"
    assert data["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "Hello world",
                                                       "refusal": None},
                                "logprobs": None, "finish_reason": "stop"}]
    assert data["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    assert pool.last.close_calls >= 1


def test_both_routes_and_the_prompt_sent(client, pool):
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    for url in (URL, "/chat/completions"):
        assert client.post(url, json=body(messages=messages)).status_code == 200
    assert pool.asks[0] == ("System instructions:\nS\n\nUser:\nU\n\nAssistant:", "qwen3-coder", None)
    assert pool.asks[1] == pool.asks[0]


@pytest.mark.parametrize("asked, key, answered", [
    ("qwen3-coder", "qwen3-coder", "qwen3-coder"),
    ("Qwen3-Coder", "qwen3-coder", "Qwen3-Coder"),       # display name, any case
    ("kimi-k2", "kmodel", "kimi-k2"),
    ("gpt-4o", "kmodel", "gpt-4o"),                      # alias to a display name
    ("fast", "auto", "fast"),                            # alias to a key
    (None, "qwen3-coder", "qwen3-coder"),                # missing: the is_default model
])
def test_model_resolution(make_app, pool, asked, key, answered):
    client = make_app(MODEL_ALIASES={"gpt-4o": "Kimi-K2", "fast": "auto"}).test_client()
    payload = body(model=asked) if asked else {"messages": HI}
    resp = client.post(URL, json=payload)
    assert resp.status_code == 200, resp.get_json()
    assert pool.asks[-1][1] == key
    assert resp.get_json()["model"] == answered


def test_missing_model_without_a_default_uses_auto(client, pool):
    from lingma_flask.lingma.models import ModelInfo
    pool._models = [ModelInfo("m1", "M1")]
    assert client.post(URL, json={"messages": HI}).status_code == 200
    assert pool.asks[-1][1] == "auto"


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_cuts_cancels_and_says_length(client, pool, field):
    pool.script("abcd", "efgh", "ijkl", "mnop")
    data = client.post(URL, json=body(**{field: 2})).get_json()
    assert data["choices"][0]["message"]["content"] == "abcdefgh"
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] == 2
    assert len(pool.last.cancel_calls) == 1
    assert pool.last.close_calls >= 1


def test_stop_ends_before_the_stop_string_and_cancels(client, pool):
    pool.script("one\n", "\ntwo")
    data = client.post(URL, json=body(stop=["\n\n", "zzz"])).get_json()
    assert data["choices"][0]["message"]["content"] == "one"
    assert data["choices"][0]["finish_reason"] == "stop"
    assert len(pool.last.cancel_calls) == 1


def test_unknown_and_ignored_fields_are_accepted(client, pool):
    resp = client.post(URL, json=body(temperature=0.2, top_p=0.9, seed=7, user="u", n=1,
                                      tools=[{"type": "function", "function": {"name": "f"}}],
                                      tool_choice="auto", frobnicate={"x": 1}))
    assert resp.status_code == 200


def test_non_json_content_type_is_still_parsed(client):
    import json
    resp = client.post(URL, data=json.dumps(body()), content_type="text/plain")
    assert resp.status_code == 200


# -- streamed ----------------------------------------------------------------------------

def stream(client, **fields):
    return client.post(URL, json=body(stream=True, **fields))


def test_stream_headers(client):
    resp = stream(client)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.headers["X-Accel-Buffering"] == "no"
    assert resp.headers["x-request-id"]
    assert "Content-Length" not in resp.headers
    resp.close()


def test_stream_chunk_order_and_shapes(client, pool):
    pool.script("Hel", "lo")
    items = payloads(stream(client).get_data(as_text=True))
    role, c1, c2, final, done = items
    ids = {c["id"] for c in items[:-1]}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    assert len({c["created"] for c in items[:-1]}) == 1
    for chunk in items[:-1]:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == "qwen3-coder"
        assert chunk["choices"][0]["index"] == 0 and chunk["choices"][0]["logprobs"] is None
        assert "usage" not in chunk
    assert role["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert role["choices"][0]["finish_reason"] is None
    assert c1["choices"][0]["delta"] == {"content": "Hel"}
    assert c2["choices"][0]["delta"] == {"content": "lo"}
    assert final["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert done == "[DONE]"


def test_stream_usage_chunk(client, pool):
    pool.script("abcd", "efgh")
    items = payloads(stream(client, stream_options={"include_usage": True}).get_data(as_text=True))
    usage_chunk = items[-2]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    assert usage_chunk["id"] == items[0]["id"]
    assert items[-3]["choices"][0]["finish_reason"] == "stop"
    assert items[-1] == "[DONE]"


def test_stream_without_include_usage_has_no_usage_chunk(client):
    items = payloads(stream(client, stream_options={"include_usage": False}).get_data(as_text=True))
    assert all(i == "[DONE]" or i["choices"] for i in items)


def test_role_chunk_comes_before_the_first_token(client, pool):
    pool.script(TICK, "late")
    resp = stream(client)
    first = next(iter(resp.response))
    first = first.decode() if isinstance(first, bytes) else first
    assert '"role":"assistant"' in first
    resp.close()


def test_keepalive_comments_while_waiting(client, pool, app):
    pool.script(TICK, TICK, "hi", TICK, " there")
    text = stream(client).get_data(as_text=True)
    raw = frames(text)
    assert raw[1] == raw[2] == raw[4] == ": keepalive"
    assert content(payloads(text)) == "hi there"
    assert pool.last.waits == [app.extensions["lingma_api"].sse_keepalive]


@pytest.mark.parametrize("chunks", [("Hello E", "N", "D world"), ("Hello", " END"), ("Hello END",)])
def test_stream_stop_split_across_chunks(client, pool, chunks):
    pool.script(*chunks)
    items = payloads(stream(client, stop="END").get_data(as_text=True))
    assert content(items).rstrip() == "Hello"
    assert "END" not in content(items)
    assert items[-2]["choices"][0]["finish_reason"] == "stop"
    assert len(pool.last.cancel_calls) == 1


def test_stream_max_tokens(client, pool):
    pool.script("abcd", "efgh", "ijkl")
    items = payloads(stream(client, max_tokens=1, stream_options={"include_usage": True})
                     .get_data(as_text=True))
    assert content(items) == "abcd"
    assert items[-3]["choices"][0]["finish_reason"] == "length"
    assert items[-2]["usage"]["completion_tokens"] == 1
    assert pool.last.cancel_calls and pool.last.close_calls


def test_stream_chunks_are_not_buffered(client, pool):
    pool.script("a", "b", "c")
    items = payloads(stream(client).get_data(as_text=True))
    assert [i["choices"][0]["delta"].get("content") for i in items[1:4]] == ["a", "b", "c"]


@pytest.mark.parametrize("error, code", [
    (LingmaTimeoutError("no token for 60 s", phase="first_token"), "lingma_timeout"),
    (LingmaShutdownError("server shutting down"), "lingma_shutdown"),
])
def test_mid_stream_error_is_one_error_frame_then_the_end(client, pool, error, code):
    pool.script("partial", error)
    text = stream(client).get_data(as_text=True)
    items = payloads(text)
    assert content(items) == "partial"
    last = items[-1]
    assert set(last) == {"error"}
    assert set(last["error"]) == {"message", "type", "param", "code"}
    assert last["error"]["code"] == code
    assert "[DONE]" not in items
    assert sum(1 for i in items if "error" in i) == 1
    assert pool.last.close_calls >= 1


def test_mid_stream_unexpected_error_hides_the_details(client, pool):
    pool.script("x", RuntimeError("secret detail"))
    text = stream(client).get_data(as_text=True)
    assert "secret detail" not in text
    assert payloads(text)[-1]["error"]["type"] == "server_error"


def test_mid_stream_content_filter_is_a_finish_reason(client, pool):
    pool.script("some", LingmaContentFilterError("blocked"))
    items = payloads(stream(client, stream_options={"include_usage": True}).get_data(as_text=True))
    assert items[-3]["choices"][0]["finish_reason"] == "content_filter"
    assert items[-2]["choices"] == []
    assert items[-1] == "[DONE]"


def test_client_disconnect_closes_the_stream(client, pool, request_log):
    pool.script("a", TICK, TICK, "b")
    resp = stream(client)
    next(iter(resp.response))
    assert pool.last.close_calls == 0
    resp.close()  # GeneratorExit at the suspended yield
    assert pool.last.close_calls == 1
    assert request_log()[-1]["error"] == "client_disconnected"


def test_stream_log_line_is_written_when_the_stream_ends(client, pool, request_log):
    pool.script("a")
    resp = stream(client)
    resp.get_data()
    line = request_log()[-1]
    assert line["stream"] is True and line["status"] == 200
    assert line["model"] == "qwen3-coder" and line["instance"] == "fake-0"
    assert line["finish_reason"] == "stop"
    assert isinstance(line["total_ms"], int) and isinstance(line["first_token_ms"], int)
    assert len([x for x in request_log() if x["id"] == line["id"]]) == 1


def test_a_stream_waits_for_a_starting_lingma_with_keepalives(client, pool):
    pool.ready = False
    real = pool.await_ready

    def becomes_ready(timeout):
        if len(pool.awaited) >= 2:
            pool.ready = True
        return real(timeout)
    pool.await_ready = becomes_ready
    body = client.post(URL, json={"messages": HI, "stream": True}).get_data(as_text=True)
    assert body.count(": keepalive") >= 2 and content(payloads(body)) == "Hello world"
    assert pool.asks and pool.awaited


def test_an_unknown_model_is_a_404_while_lingma_respawns_with_its_registry_known(client, pool):
    pool.ready = False
    resp = client.post(URL, json={"model": "no-such-model", "messages": HI, "stream": True})
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "model_not_found"
    assert pool.asks == [] and pool.awaited == []


def test_a_stream_names_its_lingma_model_while_lingma_respawns(client, pool):
    pool.ready = False
    pool.await_ready = lambda timeout: setattr(pool, "ready", True) or True
    resp = client.post(URL, json={"model": "qwen3-coder", "messages": HI, "stream": True})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.headers["x-lingma-model"] == "qwen3-coder"
    assert content(payloads(body)) == "Hello world"


def test_without_a_registry_a_starting_lingma_still_gets_the_stream_started(client, pool):
    pool.ready = False
    pool.models_error = LingmaNotReadyError("starting", retry_after=5)

    def becomes_ready(timeout):
        pool.ready, pool.models_error = True, None
        return True
    pool.await_ready = becomes_ready
    resp = client.post(URL, json={"model": "qwen3-coder", "messages": HI, "stream": True})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and content(payloads(body)) == "Hello world"
    assert [model for _, model, _ in pool.asks] == ["qwen3-coder"]


def test_a_non_streamed_request_waits_for_a_starting_lingma(client, pool):
    pool.ready = False
    resp = client.post(URL, json={"messages": HI})
    assert resp.status_code == 200 and pool.awaited == [30.0]
