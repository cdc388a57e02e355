"""Two gateway hosts, one PostgreSQL, nginx in front: the deployment docs/operations.md describes.

Each "host" is a whole gateway (gunicorn, a gevent worker, its own simulator and work dir) with
its own LINGMA_HOST_NAME, both on one PostgreSQL database and behind the documented nginx site
(`least_conn`). Shown here, as issue 18 asks:
* a `previous_response_id` chain and an Anthropic message thread continue whichever host answers;
* a key's daily token budget spent on one host is refused on the other;
* the usage history lists both hosts' requests under the key's name;
* PostgreSQL stopped for 10 s under load fails no chat, and every usage row arrives afterwards
  (the load is far below LINGMA_STORE_BUFFER, the documented bound on what an outage may lose).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import threading
import time

import anthropic
import openai
import pytest
import requests

from lingma_flask.lingma import procutil
from tests.integration.continuity import fresh_connections
from tests.integration.continuity import get_weather
from tests.integration.gateway import ROOT
from tests.integration.gateway import Gateway
from tests.integration.nginx import SITE
from tests.integration.nginx import Nginx
from tests.integration.nginx import site_for
from tests.integration.nginx import upstream_count
from tests.integration.tools import require_tool
from tests.pg import wait_for

pytestmark = pytest.mark.integration
ALICE, BOB = "sk-alice-7c1f0e9a2b", "sk-bob-44d0aa19c3"
BUDGET = 300             # alice's daily estimated tokens
INTERVAL = "0.2"         # LINGMA_STORE_INTERVAL: the sharing bound is two of these
HOSTS = ("host-a", "host-b")
CLAUDE = "claude-opus-5-5"


@pytest.fixture(scope="module")
def database(postgres):
    return postgres.create_database()


@pytest.fixture(scope="module")
def hosts(database, tmp_path_factory):
    """The two gateway hosts on one database."""
    started = []
    try:
        for name in HOSTS:
            started.append(Gateway(
                tmp_path_factory.mktemp(name) / "work", LINGMA_DATABASE_URL=database,
                LINGMA_HOST_NAME=name, LINGMA_STORE_INTERVAL=INTERVAL,
                LINGMA_API_KEYS=f"alice:{ALICE},bob:{BOB}", LINGMA_TRUSTED_PROXIES=1,
                LINGMA_KEY_LIMITS=json.dumps({"alice": {"daily_tokens": BUDGET}})).start())
        yield dict(zip(HOSTS, started, strict=True))
    finally:
        for gateway in started:
            gateway.stop()


@pytest.fixture(scope="module")
def proxy(hosts, tmp_path_factory):
    """nginx with the documented site over the two hosts (its further upstream lines: dead ports)."""
    binary = require_tool("nginx", "nginx")
    text = SITE.read_text()
    upstreams = [gw.url.removeprefix("http://") for gw in hosts.values()]
    upstreams += [f"127.0.0.1:{procutil.free_port()}" for _ in range(upstream_count(text) - len(upstreams))]
    port = procutil.free_port()
    nginx = Nginx(binary, tmp_path_factory.mktemp("nginx"), site_for(text, upstreams, port), port).start()
    yield nginx
    nginx.stop()


def answered_by(hosts: dict, request_ids: list[str]) -> list[str]:
    """Which host answered each request, from the hosts' request logs."""
    def known():
        seen = {line["id"]: name for name, gw in hosts.items() for line in gw.request_lines() if "id" in line}
        return all(rid in seen for rid in request_ids) and seen
    seen = wait_for(known)
    return [seen[rid] for rid in request_ids]


def chat(base: str, key: str, text: str) -> requests.Response:
    return requests.post(base + "/v1/chat/completions", timeout=60, headers={"Authorization": f"Bearer {key}"},
                         json={"model": "auto", "messages": [{"role": "user", "content": text}]})


def usage_rows(database: str, key: str) -> list[dict]:
    """The key's requests as `python -m lingma_flask usage --requests --csv` prints them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINGMA_") and k != "DATABASE_URL"}
    done = subprocess.run([sys.executable, "-m", "lingma_flask", "usage", "--requests", "--csv", "--since", "1d",
                           "--key", key, "--limit", "1000"],
                          cwd=ROOT, env={**env, "LINGMA_DATABASE_URL": database},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return list(csv.DictReader(io.StringIO(done.stdout)))


def test_a_response_chain_continues_whichever_host_answers(hosts, proxy):
    with openai.OpenAI(base_url=proxy.url + "/v1", api_key=BOB, max_retries=0,
                       http_client=fresh_connections()) as client:
        raw = client.responses.with_raw_response.create(model="qwen3-coder", input="Remember 42.")
        response, ids = raw.parse(), [raw.headers["x-request-id"]]
        for hop in range(6):
            raw = client.responses.with_raw_response.create(
                model="qwen3-coder", input=f"Hop {hop}?", previous_response_id=response.id)
            response = raw.parse()   # a 400 previous_response_not_found would raise here
            assert response.output_text == f"You said: Hop {hop}?"
            ids.append(raw.headers["x-request-id"])
    served = answered_by(hosts, ids)
    assert set(served) == set(HOSTS)
    assert any(a != b for a, b in zip(served, served[1:], strict=False))   # continued on the other host


def test_a_message_thread_continues_on_the_other_host(hosts, proxy):
    sent: list[str] = []

    def on_response(response):
        sent.append(response.headers["request-id"])

    with anthropic.Anthropic(base_url=proxy.url, api_key=BOB, max_retries=0,
                             http_client=fresh_connections(response=[on_response])) as claude:
        for _ in range(10):
            start = len(sent)
            final = claude.beta.messages.tool_runner(
                model=CLAUDE, max_tokens=1000, tools=[get_weather],
                messages=[{"role": "user", "content": "Weather in Paris? [[sim:tool]]"}]).until_done()
            assert [b.text for b in final.content if b.type == "text"] == ["Tool result: sunny in sim"]
            created, continued = answered_by(hosts, sent[start:])
            if created != continued:
                return
    pytest.fail("in 10 runs no thread was continued by the other host")


def test_a_daily_budget_spent_on_one_host_is_refused_on_the_other(hosts):
    first, second = hosts["host-a"], hosts["host-b"]
    spent_here = 0
    while True:   # spend alice's budget on the first host until it refuses her itself
        resp = chat(first.url, ALICE, "spend [[sim:chunks=8]]")
        if resp.status_code == 429:
            break
        assert resp.status_code == 200, resp.text
        usage = resp.json()["usage"]
        spent_here += usage["prompt_tokens"] + usage["completion_tokens"]
        assert spent_here < 3 * BUDGET, "the first host never refused"
    admitted_there = []

    def refused_on_the_second():
        resp = chat(second.url, ALICE, "elsewhere")
        if resp.status_code == 200:
            admitted_there.append(resp.json()["usage"]["total_tokens"])
            return None
        return [resp]   # a list: a 4xx Response is falsy
    (refusal,) = wait_for(refused_on_the_second, timeout=30)
    assert refusal.status_code == 429 and refusal.headers.get("retry-after")
    assert refusal.json()["error"]["code"] == "daily_token_limit_exceeded"
    assert sum(admitted_there) < BUDGET   # the second host could not have got there on its own
    assert chat(second.url, BOB, "bob is not alice").status_code == 200


def test_usage_lists_both_hosts_under_the_keys_name(hosts, proxy, database):
    for n in range(4):
        assert chat(proxy.url, BOB, f"counted {n}").status_code == 200
    rows = wait_for(lambda: (rows := usage_rows(database, "bob")) and {r["host"] for r in rows} == set(HOSTS)
                    and rows)
    assert {row["key"] for row in rows} == {"bob"}
    assert not any(BOB in json.dumps(row) for row in rows)


def test_postgresql_down_for_ten_seconds_fails_no_chat_and_loses_no_usage(hosts, proxy, postgres, database):
    before = len(usage_rows(database, "bob"))
    results: list[int] = []
    stop = threading.Event()

    def load():
        n = 0
        while not stop.is_set():
            results.append(chat(proxy.url, BOB, f"outage {n}").status_code)
            n += 1
    worker = threading.Thread(target=load)
    worker.start()
    try:
        wait_for(lambda: len(results) >= 5)
        postgres.stop("fast")
        during = len(results)
        time.sleep(10)   # the outage itself: its length is what is being shown, not a wait for an event
        assert len(results) > during   # chats went on while the database was down
        postgres.start()
        wait_for(lambda: len(results) >= during + 20)
    finally:
        stop.set()
        worker.join(60)
        if not postgres.running():
            postgres.start()
    assert results and set(results) == {200}
    wait_for(lambda: len(usage_rows(database, "bob")) - before >= len(results), timeout=60)
    assert len(usage_rows(database, "bob")) - before == len(results)
