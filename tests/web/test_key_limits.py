"""LINGMA_KEY_LIMITS through the app: each limit's 429 on the faces (status, Retry-After, the
error naming the limit), limits that reset (a fake clock, no sleeps), open chats freed however
a stream ends, and the key's name handed to the pool as the queue's tenant."""

from __future__ import annotations

import json

import pytest

from lingma_flask.web.ledger import KeyLedger
from lingma_flask.web.limits import LEDGER

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
RESPONSES = "/v1/responses"
HI = [{"role": "user", "content": "hi"}]
ALICE, BOB = "sk-alice-limits-1", "sk-bob-limits-2"
MIDNIGHT = 1_800_057_600.0   # a UTC midnight
START = MIDNIGHT + 22 * 3600 + 10   # 22:00:10 UTC


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock(START)


@pytest.fixture
def limited(make_app, clock):
    """Build an app whose keys alice and bob have the given LINGMA_KEY_LIMITS, on the fake clock."""
    def make(limits: dict):
        app = make_app(API_KEYS=f"alice:{ALICE},bob:{BOB}", KEY_LIMITS=json.dumps(limits))
        app.extensions[LEDGER] = KeyLedger(clock)
        return app.test_client()
    return make


def chat(client, key=ALICE, **fields):
    return client.post(CHAT, json={"messages": HI, **fields}, headers={"Authorization": f"Bearer {key}"},
                       environ_base={"REMOTE_ADDR": "10.0.0.5"})


def openai_error(resp, status=429):
    assert resp.status_code == status, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] is None
    return error


def test_requests_per_minute_429_names_the_limit_then_reset(limited, clock, pool):
    client = limited({"alice": {"rpm": 2}})
    assert chat(client).status_code == 200 and chat(client).status_code == 200
    resp = chat(client)
    error = openai_error(resp)
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "requests"
    assert error["message"] == ("Key 'alice' is over its limit of 2 requests per minute"
                                " (LINGMA_KEY_LIMITS); retry in 50 s.")
    assert resp.headers["retry-after"] == "50" and resp.headers["x-should-retry"] == "true"
    assert chat(client, key=BOB).status_code == 200   # bob has no limit
    assert len(pool.asks) == 3   # the refused chats never reached Lingma
    clock.now += 50   # the next minute
    assert chat(client).status_code == 200


def test_concurrent_chats_429_until_a_stream_ends_even_by_a_disconnect(limited, pool):
    client = limited({"*": {"concurrent": 1}})
    open_stream = chat(client, stream=True)
    assert open_stream.status_code == 200   # its body not read yet: the chat is open
    resp = chat(client)
    error = openai_error(resp)
    assert error["code"] == "concurrency_limit_exceeded"
    assert error["message"] == ("Key 'alice' is over its limit of 1 concurrent chats (LINGMA_KEY_LIMITS);"
                                " retry when one of its chats ends.")
    assert resp.headers["retry-after"] == "1"
    assert chat(client, key=BOB).status_code == 200   # '*' is each key's own limit
    open_stream.close()   # the client goes away mid-stream: the server closes the response
    assert chat(client).status_code == 200


def test_daily_tokens_429_names_the_budget_then_renews_at_midnight_utc(limited, clock, request_log):
    client = limited({"alice": {"daily_tokens": 5}})
    assert chat(client).status_code == 200
    used = request_log()[-1]
    assert used["prompt_tokens"] + used["completion_tokens"] >= 5
    resp = chat(client)
    error = openai_error(resp)
    assert error["code"] == "daily_token_limit_exceeded" and error["type"] == "tokens"
    assert error["message"] == ("Key 'alice' is over its limit of 5 estimated tokens per day (UTC)"
                                " (LINGMA_KEY_LIMITS); the budget renews at midnight UTC, in 2 h 0 min.")
    assert resp.headers["retry-after"] == str(2 * 3600 - 10) and resp.headers["x-should-retry"] == "false"
    clock.now = MIDNIGHT + 86_400
    assert chat(client).status_code == 200


def test_the_anthropic_face_answers_its_own_429(limited):
    client = limited({"alice": {"rpm": 1}})
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": HI}
    headers = {"x-api-key": ALICE}
    assert client.post(MESSAGES, json=body, headers=headers).status_code == 200
    resp = client.post(MESSAGES, json=body, headers=headers)
    assert resp.status_code == 429 and resp.headers["retry-after"] == "50"
    data = resp.get_json()
    assert data["type"] == "error" and data["error"]["type"] == "rate_limit_error"
    assert data["error"]["message"].startswith("Key 'alice' is over its limit of 1 requests per minute")
    assert data["request_id"] == resp.headers["request-id"]


def test_the_responses_face_and_the_legacy_completions_are_limited_too(limited):
    client = limited({"alice": {"rpm": 2}})
    headers = {"Authorization": f"Bearer {ALICE}"}
    assert client.post(RESPONSES, json={"input": "hi"}, headers=headers).status_code == 200
    assert client.post("/v1/completions", json={"prompt": "hi"}, headers=headers).status_code == 200
    resp = client.post(RESPONSES, json={"input": "hi"}, headers=headers)
    assert openai_error(resp)["code"] == "rate_limit_exceeded" and resp.headers["retry-after"] == "50"
    assert openai_error(client.post("/v1/completions", json={"prompt": "hi"}, headers=headers))["type"] == "requests"


def test_requests_that_ask_no_lingma_are_not_counted(limited):
    client = limited({"alice": {"rpm": 1}})
    headers = {"x-api-key": ALICE}
    for _ in range(3):
        assert client.get("/v1/models", headers=headers).status_code == 200
        assert client.post("/v1/messages/count_tokens", json={"model": "claude-sonnet-4-5", "messages": HI},
                           headers=headers).status_code == 200
        assert chat(client, messages=[]).status_code == 400   # refused before admission
    assert chat(client).status_code == 200


def test_a_keyless_gateway_is_not_limited(make_app):
    client = make_app(KEY_LIMITS='{"*": {"rpm": 1}}').test_client()
    for _ in range(3):
        assert client.post(CHAT, json={"messages": HI}).status_code == 200


def test_the_key_name_is_the_pools_tenant_and_limits_give_its_weight(limited, pool):
    tenants = []
    ask = pool.ask

    def recording_ask(*args, tenant=None, **kwargs):
        tenants.append(tenant)
        return ask(*args, tenant=tenant, **kwargs)

    pool.ask = recording_ask
    client = limited({"alice": {"weight": 3}})
    assert chat(client).status_code == 200 and chat(client, key=BOB).status_code == 200
    assert tenants == ["alice", "bob"]
    assert (pool.tenant_weight("alice"), pool.tenant_weight("bob"), pool.tenant_weight(None)) == (3, 1, 1)


def test_the_ledger_counts_what_the_store_would_share(limited):
    client = limited({})
    app_ledger = client.application.extensions[LEDGER]
    assert chat(client).status_code == 200 and chat(client, key=BOB).status_code == 200
    deltas = app_ledger.take_deltas()
    assert set(deltas) == {"alice", "bob"} and deltas["alice"][0] == 1 and deltas["alice"][1] > 0
