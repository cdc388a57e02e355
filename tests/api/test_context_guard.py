"""The context guard (pipeline/context_guard.py): a prompt that cannot fit the model's window is
refused before Lingma is asked, in each face's words; an unknown window means no guard."""

from __future__ import annotations

import re

import pytest

from lingma_flask.lingma.models import ModelInfo
from lingma_flask.pipeline.context_guard import ContextWindowExceeded
from lingma_flask.pipeline.context_guard import check_context

from .fakes import DEFAULT_MODELS
from .fakes import FakePool

LONG = "word " * 400          # about 500 estimated tokens
SHORT = "hi"
OPENAI_WORDING = re.compile(r"^This model's maximum context length is (\d+) tokens\. However, your messages"
                            r" resulted in (\d+) tokens\. Please reduce the length of the messages\.$")


@pytest.fixture
def pool():
    """A pool whose default model (qwen3-coder) says nothing of its window, and one that does."""
    models = (*DEFAULT_MODELS, ModelInfo("small", "Small", ("chat",), max_input_tokens=100))
    return FakePool(models)


def chat(client, text, model="qwen3-coder", **fields):
    return client.post("/v1/chat/completions",
                       json={"model": model, "messages": [{"role": "user", "content": text}], **fields})


def responses(client, text, model="qwen3-coder", **fields):
    return client.post("/v1/responses", json={"model": model, "input": text, **fields})


def messages(client, text, model="claude-sonnet-4-5", **fields):
    return client.post("/v1/messages", json={"model": model, "max_tokens": 64,
                                             "messages": [{"role": "user", "content": text}], **fields})


def count_tokens(client, text, model="claude-sonnet-4-5"):
    resp = client.post("/v1/messages/count_tokens",
                       json={"model": model, "messages": [{"role": "user", "content": text}]})
    return resp.get_json()["input_tokens"]


def openai_error(resp) -> tuple[int, int]:
    """Check the OpenAI envelope of the guard's 400; return (limit, tokens) from its message."""
    assert resp.status_code == 400, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert error["code"] == "context_length_exceeded" and error["type"] == "invalid_request_error"
    match = OPENAI_WORDING.match(error["message"])
    assert match, error["message"]
    return int(match[1]), int(match[2])


@pytest.mark.parametrize("stream", [False, True])
def test_chat_over_the_instance_window_is_refused_before_asking(client, pool, stream):
    pool.context_limit = 200
    limit, tokens = openai_error(chat(client, LONG, stream=stream))
    assert limit == 200 and tokens == count_tokens(client, LONG) > 200
    assert pool.asks == []   # Lingma was never asked


def test_chat_within_the_window_is_answered(client, pool):
    pool.context_limit = 200
    resp = chat(client, SHORT)
    assert resp.status_code == 200 and len(pool.asks) == 1


def test_an_unknown_window_means_no_guard(client, pool):
    assert pool.context_limit is None
    resp = chat(client, LONG * 20)
    assert resp.status_code == 200 and len(pool.asks) == 1


def test_the_registry_window_of_the_model_asked_for_wins(client, pool):
    pool.context_limit = 100_000   # what an instance reported for another model
    limit, _ = openai_error(chat(client, LONG, model="small"))
    assert limit == 100 and pool.asks == []
    assert chat(client, LONG).status_code == 200   # the default model's window is the instance's


@pytest.mark.parametrize("stream", [False, True])
def test_responses_over_the_window_is_refused_in_openai_words(client, pool, stream):
    pool.context_limit = 200
    limit, tokens = openai_error(responses(client, LONG, stream=stream))
    assert (limit, pool.asks) == (200, [])
    assert tokens > 200


def test_responses_within_the_window_is_answered(client, pool):
    pool.context_limit = 200
    assert responses(client, SHORT).status_code == 200 and len(pool.asks) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_messages_over_the_window_is_prompt_is_too_long(client, pool, stream):
    pool.context_limit = 200
    resp = messages(client, LONG, stream=stream)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    tokens = count_tokens(client, LONG)
    assert error == {"type": "invalid_request_error",
                     "message": f"prompt is too long: {tokens} tokens > 200 maximum"}
    assert pool.asks == []


def test_messages_within_the_window_is_answered(client, pool):
    pool.context_limit = 200
    resp = messages(client, SHORT)
    assert resp.status_code == 200 and resp.get_json()["type"] == "message"


def test_the_guard_compares_tokens_with_the_window():
    check_context(500, None)
    check_context(500, 500)
    with pytest.raises(ContextWindowExceeded) as caught:
        check_context(501, 500)
    assert (caught.value.tokens, caught.value.limit, caught.value.kind) == (501, 500, "context_length_exceeded")


def test_the_fake_pool_keeps_the_protocol():
    assert FakePool().context_window("qwen3-coder") is None
