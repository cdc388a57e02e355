"""POST /v1/completions: the legacy text completions face."""

import pytest

from .sse import payloads

URL = "/v1/completions"


def test_one_prompt_non_stream(client, pool):
    pool.script("Hello", " there")
    resp = client.post(URL, json={"model": "qwen3-coder", "prompt": "Say hi", "max_tokens": 50})
    data = resp.get_json()
    assert resp.status_code == 200 and data["object"] == "text_completion"
    assert data["id"].startswith("cmpl-") and data["model"] == "qwen3-coder"
    assert data["choices"] == [{"text": "Hello there", "index": 0, "logprobs": None, "finish_reason": "stop"}]
    assert data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"]
    assert pool.asks[0][0] == "Say hi"


def test_a_long_prompt_is_fine(client, pool):
    assert client.post(URL, json={"prompt": "a long prompt " * 500}).status_code == 200


def test_a_list_of_prompts_gives_one_choice_each_in_order(client, pool):
    pool.script("A")
    pool.script("B")
    data = client.post(URL, json={"prompt": ["one", "two"], "max_tokens": 5}).get_json()
    assert [(c["index"], c["text"]) for c in data["choices"]] == [(0, "A"), (1, "B")]
    assert [a[0] for a in pool.asks] == ["one", "two"]


def test_without_max_tokens_there_is_no_cap(client, pool):
    # OpenAI's default of 16 would stop `llm` (which sends none) after a few words
    pool.script("word " * 100)
    data = client.post(URL, json={"prompt": "go"}).get_json()
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["choices"][0]["text"] == "word " * 100
    assert data["usage"]["completion_tokens"] > 16


def test_without_max_tokens_a_stream_is_not_capped_either(client, pool):
    pool.script("word " * 50, "word " * 50)
    body = client.post(URL, json={"prompt": "go", "stream": True}).get_data(as_text=True)
    chunks = [c for c in payloads(body) if isinstance(c, dict) and c["choices"]]
    assert "".join(c["choices"][0]["text"] for c in chunks) == "word " * 100
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_max_tokens_when_asked_still_cuts(client, pool):
    pool.script("word " * 100)
    data = client.post(URL, json={"prompt": "go", "max_tokens": 16}).get_json()
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] == 16


def test_streaming_several_prompts(client, pool):
    pool.script("A", "a")
    pool.script("B")
    body = client.post(URL, json={"prompt": ["one", "two"], "stream": True, "stop": "x",
                                  "max_tokens": 9}).get_data(as_text=True)
    items = payloads(body)
    assert items[-1] == "[DONE]" and items[-2]["choices"] == [] and items[-2]["usage"]
    texts = [(c["choices"][0]["index"], c["choices"][0]["text"]) for c in items[:-2]]
    assert texts == [(0, "A"), (0, "a"), (0, ""), (1, "B"), (1, "")]
    assert len({c["id"] for c in items[:-1]}) == 1
    assert all(s.close_calls >= 1 for s in pool.streams)


@pytest.mark.parametrize("fields, param", [
    ({"echo": True}, "echo"), ({"suffix": "end"}, "suffix"), ({"n": 2}, "n"),
    ({"best_of": 3}, "best_of"), ({"logprobs": 2}, "logprobs"), ({"prompt": []}, "prompt"),
    ({"prompt": ["p"] * 17}, "prompt"), ({"prompt": 5}, "prompt"), ({"stream": "yes"}, "stream"),
])
def test_what_lingma_cannot_do_is_a_clear_400(client, pool, fields, param):
    resp = client.post(URL, json={"prompt": "p", **fields})
    assert resp.status_code == 400 and resp.get_json()["error"]["param"] == param
    assert not pool.asks


def test_the_next_prompts_answers_stream_as_they_come(client, pool):
    pool.script("A")
    pool.script("B", "b")
    resp = client.post(URL, json={"prompt": ["one", "two"], "stream": True})
    writes = [w.decode() for w in resp.response if w]
    second = [payloads(w) for w in writes if '"text":"B"' in w or '"text":"b"' in w]
    assert [[c["choices"][0]["text"] for c in chunks] for chunks in second] == [["B"], ["b"]]
    assert payloads("".join(writes))[-1] == "[DONE]"
