"""`x-should-retry` on every face (issue 16, item 5): false where a retry cannot help, true with
Retry-After where waiting does, and nothing where the client's own rule should decide.

The official SDKs retry 408, 409, 429 and 5xx by default: without the header one
`tool_call_invalid` cost three requests and six Lingma prompts.
"""

from __future__ import annotations

import httpx2
import openai
import pytest

from lingma_flask.lingma import errors as le
from lingma_flask.web.apierror import ApiError
from lingma_flask.web.apierror import retry_advice

from .faces import FACES

BODIES = {
    "chat": ("/v1/chat/completions", {"model": "qwen3-coder", "messages": [{"role": "user", "content": "hi"}]}),
    "responses": ("/v1/responses", {"model": "qwen3-coder", "input": "hi"}),
    "anthropic": ("/v1/messages", {"model": "qwen3-coder", "max_tokens": 100,
                                   "messages": [{"role": "user", "content": "hi"}]}),
    "completions": ("/v1/completions", {"model": "qwen3-coder", "prompt": "hi"}),
}
NONE = None
CASES = [
    # error raised by the pool, x-should-retry, Retry-After
    (le.LingmaBusyError("full"), "true", "1"),
    (le.LingmaBusyError("full", retry_after=2.5), "true", "3"),
    (le.LingmaNotReadyError("starting"), "true", "5"),
    (le.LingmaShutdownError("draining"), "true", "1"),
    (le.LingmaRateLimitError("slow down"), "true", NONE),
    (le.LingmaRateLimitError("slow down", retry_after=7), "true", "7"),
    (le.LingmaQuotaError("quota gone"), "false", NONE),
    (le.LingmaNotLoggedInError("no account"), "false", NONE),
    (le.LingmaForbiddenError("no"), "false", NONE),
    (le.LingmaContentFilterError("blocked"), "false", NONE),
    (le.LingmaPromptTooLargeError("too long"), "false", NONE),
    (le.LingmaWorkDirBusyError("locked"), "false", NONE),
    (le.LingmaUpstreamError("boom", status_code=500), NONE, NONE),
    (le.LingmaConnectionError("socket died"), NONE, NONE),
    (le.LingmaTimeoutError("no first token", phase="first_token"), NONE, NONE),
]


def case_id(value) -> str:
    return type(value).__name__ if isinstance(value, Exception) else str(value)


@pytest.mark.parametrize("error, retry, after", CASES, ids=case_id)
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("face", BODIES)
def test_lingma_errors_carry_the_advice(client, pool, face, stream, error, retry, after):
    url, body = BODIES[face]
    pool.ask_error = error
    resp = client.post(url, json={**body, "stream": stream})
    assert resp.status_code >= 400 and resp.mimetype == "application/json"
    assert resp.headers.get("x-should-retry") == retry
    assert resp.headers.get("Retry-After") == after


@pytest.mark.parametrize("face", BODIES)
def test_a_bad_request_is_never_retried(client, face):
    url, body = BODIES[face]
    resp = client.post(url, json={**body, "model": 12})
    assert resp.status_code == 400 and resp.headers["x-should-retry"] == "false"
    resp = client.post(url, data="{not json", content_type="application/json")
    assert resp.status_code == 400 and resp.headers["x-should-retry"] == "false"


@pytest.mark.parametrize("face", BODIES)
def test_a_wrong_key_is_never_retried(make_app, face):
    client = make_app(API_KEYS="right").test_client()
    url, body = BODIES[face]
    resp = client.post(url, json=body, headers={"Authorization": "Bearer wrong"})
    assert resp.status_code == 401 and resp.headers["x-should-retry"] == "false"


WEATHER = ("get_weather", {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]})


@pytest.mark.parametrize("face", FACES)
def test_tool_call_invalid_is_never_retried(client, pool, face):
    pool.script("I will not call it.")
    pool.script("Still no call.")
    seen = FACES[face].ask(client, "weather?", tools=[WEATHER], choice="required")
    assert seen.status == 502 and seen.headers["x-should-retry"] == "false"
    assert "Retry-After" not in seen.headers
    assert len(pool.asks) == 2   # the answer and its one repair turn


@pytest.mark.parametrize("face", FACES)
def test_response_format_invalid_is_never_retried(client, pool, face):
    pool.script("prose")
    pool.script("still prose")
    seen = FACES[face].ask(client, "json please", schema={"type": "object"})
    assert seen.status == 502 and seen.headers["x-should-retry"] == "false"


def test_the_official_sdk_sends_a_tool_call_invalid_once(app, pool):
    pool.script("I will not call it.")
    pool.script("Still no call.")
    http = httpx2.Client(transport=httpx2.WSGITransport(app=app))
    sdk = openai.OpenAI(api_key="any", base_url="http://localhost/v1", http_client=http,
                        max_retries=2)
    tool = {"type": "function", "function": {"name": WEATHER[0], "parameters": WEATHER[1]}}
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="qwen3-coder", tool_choice="required", tools=[tool],
                                    messages=[{"role": "user", "content": "weather?"}])
    sdk.close()
    assert caught.value.status_code == 502
    assert len(pool.asks) == 2   # one request: its answer and the repair turn, no SDK retry


@pytest.mark.parametrize("status, code, expected", [
    (400, "invalid_value", (False, None)),
    (404, "model_not_found", (False, None)),
    (413, "request_too_large", (False, None)),
    (408, "request_timeout", (None, None)),
    (429, "too_many_failed_attempts", (False, None)),
    (429, "lingma_busy", (True, "1")),
    (500, "internal_error", (None, None)),
    (502, "tool_call_invalid", (False, None)),
    (502, "response_format_invalid", (False, None)),
    (502, "lingma_rpc_error", (None, None)),
    (503, "lingma_not_ready", (True, "5")),
])
def test_the_table(status, code, expected):
    assert retry_advice(status, code) == expected


def test_an_error_keeps_the_headers_it_brings():
    error = ApiError(429, "locked", code="too_many_failed_attempts", headers={"Retry-After": "30"})
    assert error.headers == {"Retry-After": "30", "x-should-retry": "false"}
    error = ApiError(503, "x", code="lingma_shutdown", headers={"retry-after": "9"})
    assert error.headers == {"retry-after": "9", "x-should-retry": "true"}
