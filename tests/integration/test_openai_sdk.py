"""The official openai SDK against real gunicorn + gevent + the simulator: the product as used."""

import concurrent.futures
import json
import time

import openai
import pytest
import requests

from lingma_flask.lingma.instance import wait_until
from tests.integration.gateway import API_KEY

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def ask(text):
    return [{"role": "user", "content": text}]


def test_non_streamed_completion_has_the_exact_shape(client):
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=ask("hello"))
    completion = raw.parse()
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "You said: hello"
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert raw.headers["x-lingma-usage"] == "estimated"
    assert raw.headers["x-request-id"]


def test_streamed_completion_with_usage_chunk(client):
    chunks = list(client.chat.completions.create(
        model="Qwen3-Coder", messages=ask("stream me"), stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: stream me"
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert len({c.id for c in chunks}) == 1


def test_models_come_from_the_live_registry(client):
    ids = [m.id for m in client.models.list().data]
    assert "auto" in ids and "dashscope_qwen3_coder" in ids
    assert client.models.retrieve("dashscope_qwen3_coder").id == "dashscope_qwen3_coder"
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("no-such-model")
    assert info.value.code == "model_not_found"


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="mistral-17", messages=ask("x"))
    assert info.value.code == "model_not_found" and info.value.request_id


def test_wrong_or_missing_key_is_401(gateway, client):
    bad = openai.OpenAI(base_url=gateway.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.models.list()
    assert info.value.code == "invalid_api_key"
    bad.close()
    resp = requests.get(gateway.url + "/v1/models", timeout=10)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_api_key"
    assert "wrong" not in "".join(gateway.lines) and API_KEY not in "".join(gateway.lines)


@pytest.mark.parametrize("body,status,param", [
    (b"{not json", 400, None),
    (json.dumps({"model": "auto"}).encode(), 400, "messages"),
    (json.dumps({"model": "auto", "messages": [{"role": "user", "content": "x"}], "n": 2}).encode(), 400, "n"),
    (json.dumps({"model": "auto", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]}).encode(), 400, None),
])
def test_bad_requests_get_the_error_envelope(gateway, body, status, param):
    resp = requests.post(gateway.url + "/v1/chat/completions", data=body, timeout=10,
                         headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status_code == status
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    if param:
        assert error["param"] == param
    assert resp.headers["x-request-id"]


def test_body_over_the_limit_is_413(gateway):
    body = json.dumps({"model": "auto", "messages": ask("x" * (3 * 1024 * 1024))})
    resp = requests.post(gateway.url + "/v1/chat/completions", data=body, timeout=30,
                         headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status_code == 413
    assert resp.headers["content-type"].startswith("application/json") and "error" in resp.json()


@pytest.mark.parametrize("marker,error_type,status", [
    ("finish=429", openai.RateLimitError, 429),
    ("finish=403 reason=quota_exhausted", openai.RateLimitError, 429),
    ("finish=500", openai.InternalServerError, 502),
    ("finish=401", openai.InternalServerError, 503),
    ("finish=406", openai.BadRequestError, 400),
    ("stall", openai.InternalServerError, 504),
])
def test_lingma_failures_map_to_openai_statuses(client, marker, error_type, status):
    with pytest.raises(error_type) as info:
        client.chat.completions.create(model="auto", messages=ask(f"fail [[sim:{marker}]]"))
    assert info.value.status_code == status
    assert info.value.body["message"]


def test_quota_says_do_not_retry(gateway):
    resp = requests.post(gateway.url + "/v1/chat/completions", timeout=30, headers=AUTH, json={
        "model": "auto", "messages": ask("[[sim:finish=403]] [[sim:reason=quota_exhausted]]")})
    assert resp.status_code == 429 and resp.headers["x-should-retry"] == "false"
    assert resp.json()["error"]["code"] == "insufficient_quota"


def test_keepalive_comments_while_waiting_for_the_first_token(gateway):
    resp = requests.post(gateway.url + "/v1/chat/completions", timeout=30, headers=AUTH, stream=True, json={
        "model": "auto", "stream": True, "messages": ask("slow start [[sim:ttft=1.8]]")})
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.headers["cache-control"] == "no-cache" and resp.headers["x-accel-buffering"] == "no"
    lines = [line for line in resp.iter_lines(decode_unicode=True) if line]
    first_content = next(i for i, line in enumerate(lines) if '"content":"You' in line)
    assert sum(1 for line in lines[:first_content] if line.startswith(": keepalive")) >= 2
    assert lines[-1] == "data: [DONE]"


def test_stop_string_ends_output_and_tells_lingma(gateway, client):
    completion = client.chat.completions.create(
        model="auto", messages=ask("please stop here [[sim:chunks=30]] [[sim:delay=0.05]]"), stop=["said:"])
    assert completion.choices[0].message.content == "You "
    assert completion.choices[0].finish_reason == "stop"
    state = gateway.sim_state()
    ask_id = next(a["requestId"] for a in state["asks"] if "please stop here" in a["questionText"])
    assert wait_until(lambda: ask_id in gateway.sim_state()["stops"], 5)


def test_max_tokens_cuts_with_length(client):
    stream = client.chat.completions.create(model="auto", messages=ask("long [[sim:len=5000]]"),
                                            max_tokens=5, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert 0 < len(text) < 100
    assert chunks[-1].choices[0].finish_reason == "length"


def test_unicode_and_a_one_megabyte_answer_arrive_intact(client):
    prompt = ask("big [[sim:len=1048576]] [[sim:chunk=4096]] [[sim:delay=0]]")
    whole = client.chat.completions.create(model="auto", messages=prompt).choices[0].message.content
    streamed = "".join(c.choices[0].delta.content or ""
                       for c in client.chat.completions.create(model="auto", messages=prompt, stream=True)
                       if c.choices)
    assert len(whole) == 1048576 and whole == streamed
    assert any("\u4e00" <= ch <= "\u9fff" for ch in whole[:5000])
    echo = client.chat.completions.create(model="auto", messages=ask("héllo 世界 🎉")).choices[0].message.content
    assert echo == "You said: héllo 世界 🎉"


def test_two_hundred_concurrent_streams_each_get_their_own_answer(client):
    def run(i):
        stream = client.chat.completions.create(model="auto", stream=True,
                                                messages=ask(f"stream number {i} [[sim:chunks=10]]"))
        return i, "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    with concurrent.futures.ThreadPoolExecutor(200) as pool:
        results = list(pool.map(run, range(200)))
    assert [text for _, text in results] == [f"You said: stream number {i}" for i in range(200)]


def test_client_disconnect_stops_lingma_and_frees_the_slot(gateway):
    resp = requests.post(gateway.url + "/v1/chat/completions", timeout=30, headers=AUTH, stream=True, json={
        "model": "auto", "stream": True, "messages": ask("walk away [[sim:len=100000]] [[sim:delay=0.05]]")})
    lines = resp.iter_lines(decode_unicode=True)
    assert any('"content":"' in line and '"content":""' not in line for line in lines)
    resp.close()
    ask_id = next(a["requestId"] for a in gateway.sim_state()["asks"] if "walk away" in a["questionText"])
    assert wait_until(lambda: ask_id in gateway.sim_state()["stops"], 10)
    assert wait_until(lambda: gateway.health()[1]["in_flight"] == 0, 10)


def test_crash_mid_stream_is_an_error_frame_then_lingma_comes_back(gateway, client):
    pids = gateway.lingma_pids()
    with pytest.raises(openai.APIError) as info:
        for _ in client.chat.completions.create(model="auto", stream=True,
                                                messages=ask("crash [[sim:crash]] [[sim:len=500]]")):
            pass
    assert "Lingma" in str(info.value)
    assert wait_until(lambda: gateway.ready() and gateway.lingma_pids() != pids, 30)
    assert client.chat.completions.create(model="auto", messages=ask("alive")).choices[0].message.content \
        == "You said: alive"


def test_every_response_has_a_request_id(gateway):
    for method, path in [("get", "/health"), ("get", "/v1/models"), ("get", "/nope"), ("delete", "/v1/models")]:
        resp = requests.request(method, gateway.url + path, headers=AUTH, timeout=10)
        assert resp.headers.get("x-request-id"), (method, path, resp.status_code)
        assert resp.headers["content-type"].startswith("application/json")
    time.sleep(0)
