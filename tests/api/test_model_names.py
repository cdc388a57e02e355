"""One model-name rule on every face: vendor names mean Lingma's default model, echoed as sent."""

import pytest

from lingma_flask.pipeline.targets import is_vendor_name

DEFAULT = "qwen3-coder"   # the fake registry's default model
VENDOR = ["gpt-3.5-turbo", "gpt-4o-2024-08-06", "chatgpt-4o-latest", "o1", "o3-mini",
          "o4-mini-high", "codex-mini-latest", "claude-opus-5-5", "claude-3-5-haiku@20241022",
          "qwen3.7-max", "qwen-max", "Qwen/Qwen3-Coder-480B", "GPT-4O"]
UNKNOWN = ["mistral-large", "llama3", "gemini-2.5-pro", "o", "ox-1", "gpt", "claude",
           "deepseek-chat", "my-qwen"]
HI = [{"role": "user", "content": "hi"}]


def chat(client, model):
    return client.post("/v1/chat/completions", json={"model": model, "messages": HI})


def responses(client, model):
    return client.post("/v1/responses", json={"model": model, "input": "hi"})


def messages(client, model):
    return client.post("/v1/messages", json={"model": model, "max_tokens": 50, "messages": HI})


def completions(client, model):
    return client.post("/v1/completions", json={"model": model, "prompt": "hi"})


def count_tokens(client, model):
    return client.post("/v1/messages/count_tokens", json={"model": model, "messages": HI})


def input_tokens(client, model):
    return client.post("/v1/responses/input_tokens", json={"model": model, "input": "hi"})


ANSWERING = [chat, responses, messages, completions]
FACES = ANSWERING + [count_tokens, input_tokens]


@pytest.mark.parametrize("name", VENDOR)
def test_vendor_names_are_recognised(name):
    assert is_vendor_name(name)


@pytest.mark.parametrize("name", UNKNOWN)
def test_other_names_are_not(name):
    assert not is_vendor_name(name)


@pytest.mark.parametrize("face", ANSWERING, ids=lambda f: f.__name__)
@pytest.mark.parametrize("name", ["gpt-3.5-turbo", "o3-mini", "claude-sonnet-4-5", "qwen3.7-max"])
def test_every_face_answers_a_vendor_name_with_the_default_model(client, pool, face, name):
    resp = face(client, name)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["model"] == name   # echoed as the client sent it
    assert resp.headers["x-lingma-model"] == DEFAULT and pool.asks[-1][1] == DEFAULT


@pytest.mark.parametrize("face", ANSWERING, ids=lambda f: f.__name__)
def test_a_streamed_answer_echoes_the_vendor_name_too(client, pool, face):
    path, body = {
        chat: ("/v1/chat/completions", {"messages": HI}),
        responses: ("/v1/responses", {"input": "hi"}),
        messages: ("/v1/messages", {"max_tokens": 50, "messages": HI}),
        completions: ("/v1/completions", {"prompt": "hi"}),
    }[face]
    resp = client.post(path, json={"model": "qwen3.7-max", "stream": True, **body})
    assert resp.status_code == 200 and resp.headers["x-lingma-model"] == DEFAULT
    text = resp.get_data(as_text=True)
    assert '"model": "qwen3.7-max"' in text or '"model":"qwen3.7-max"' in text
    assert pool.asks[-1][1] == DEFAULT


@pytest.mark.parametrize("face", FACES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("name", ["mistral-large", "my-qwen"])
def test_any_other_unknown_name_is_a_404_on_every_face(client, pool, face, name):
    resp = face(client, name)
    assert resp.status_code == 404, resp.get_data(as_text=True)
    assert name in resp.get_data(as_text=True) and not pool.asks


@pytest.mark.parametrize("face", ANSWERING, ids=lambda f: f.__name__)
def test_an_alias_wins_over_the_vendor_rule(make_app, pool, face):
    client = make_app(MODEL_ALIASES={"gpt-4o": "Kimi-K2"}).test_client()
    resp = face(client, "gpt-4o")
    assert resp.status_code == 200 and resp.headers["x-lingma-model"] == "kmodel"
    assert pool.asks[-1][1] == "kmodel"


def test_a_lingma_model_named_like_a_vendor_is_that_model(client, pool):
    resp = chat(client, "Qwen-VL")   # a display name in the registry, not the default
    assert resp.status_code == 200 and resp.headers["x-lingma-model"] == "vl"
