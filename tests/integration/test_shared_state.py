"""Kept state across workers on the real gateway (gunicorn, two gevent workers, SQLite, simulator).

Every request goes out on its own connection, so either worker may answer it. A chain of 20
`previous_response_id` continuations through the openai SDK all succeed (before the store
shared them, 8 of 20 were 400 `previous_response_not_found`), each carrying the whole
conversation, and the chain changes worker on the way; the anthropic SDK's tool runner
continues its message thread on the other worker without replaying the conversation.
"""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from tests.integration.continuity import fresh_connections
from tests.integration.continuity import get_weather
from tests.integration.gateway import API_KEY
from tests.integration.gateway import Gateway
from tests.pg import wait_for

pytestmark = pytest.mark.integration
HOPS = 20
MAX_RUNS = 40     # tool runs tried until one thread's continue is answered by the other worker
CLAUDE = "claude-opus-5-5"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gw = Gateway(tmp_path_factory.mktemp("gw") / "work", LINGMA_WORKERS="2").start()
    yield gw
    gw.stop()


def workers_of(gw: Gateway, request_ids: list[str]) -> list[int]:
    """The pid of the worker that answered each request, from the request log."""
    def known():
        pids = {line["id"]: line["pid"] for line in gw.request_lines() if "id" in line}
        return all(rid in pids for rid in request_ids) and pids
    pids = wait_for(known)
    return [pids[rid] for rid in request_ids]


def test_a_chain_of_twenty_continuations_succeeds_whichever_worker_answers(gateway):
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=API_KEY, max_retries=0,
                       http_client=fresh_connections()) as client:
        raw = client.responses.with_raw_response.create(model="qwen3-coder", input="Remember 42.")
        response, ids = raw.parse(), [raw.headers["x-request-id"]]
        sizes = [response.usage.input_tokens]
        for hop in range(HOPS):
            raw = client.responses.with_raw_response.create(
                model="qwen3-coder", input=f"Hop {hop}?", previous_response_id=response.id)
            response = raw.parse()   # a 400 would raise here
            assert response.status == "completed" and response.output_text == f"You said: Hop {hop}?"
            ids.append(raw.headers["x-request-id"])
            sizes.append(response.usage.input_tokens)
    # each hop's prompt held the whole conversation so far: it only grows
    assert all(later > earlier for earlier, later in zip(sizes, sizes[1:], strict=False))
    pids = workers_of(gateway, ids)
    assert len(set(pids)) == 2
    assert sum(a != b for a, b in zip(pids, pids[1:], strict=False)) >= 1   # continued elsewhere


def test_a_message_thread_continues_on_the_other_worker(gateway):
    sent: list[tuple[str, str]] = []   # (thread type, request id) of each request
    bodies: list[dict] = []

    def on_request(request):
        bodies.append(json.loads(request.content))

    def on_response(response):
        sent.append((bodies[len(sent)]["thread"]["type"], response.headers["request-id"]))

    with anthropic.Anthropic(base_url=gateway.url, api_key=API_KEY, max_retries=0,
                             http_client=fresh_connections(request=[on_request],
                                                           response=[on_response])) as claude:
        for _ in range(MAX_RUNS):
            start = len(sent)
            final = claude.beta.messages.tool_runner(
                model=CLAUDE, max_tokens=1000, system="Be brief.", tools=[get_weather],
                messages=[{"role": "user", "content": "Weather in Paris? [[sim:tool]]"}]).until_done()
            assert [b.text for b in final.content if b.type == "text"] == ["Tool result: sunny in sim"]
            run = sent[start:]
            assert [kind for kind, _ in run] == ["create", "continue"]   # never replayed
            created, continued = workers_of(gateway, [rid for _, rid in run])
            if created != continued:
                break
        else:
            pytest.fail(f"in {MAX_RUNS} runs no thread was continued by the other worker")
    assert "tools" not in bodies[-1] and "system" not in bodies[-1]   # the thread held them
