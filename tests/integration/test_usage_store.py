"""Usage per key under real gunicorn (gevent, two workers): SQLite by default, and a PostgreSQL outage.

* SQLite: chats with two keys show up under the keys' names (what the request log calls them)
  in `python -m lingma_flask usage --csv` and in GET /admin/api/usage, from both workers.
* PostgreSQL stopped under load (`pg_ctl stop -m fast`): every chat still succeeds, the
  workers buffer their rows, and when the server is back every row arrives.
* LINGMA_STORE=off: chats, the usage API (404 store_off), the status page and the workers' and
  requests' lists still work, no database is made, and no worker ever loads SQLAlchemy.
"""

from __future__ import annotations

import collections
import csv
import io
import os
import subprocess
import sys
import threading

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.exc import ProgrammingError

from lingma_flask.store import tables
from tests.integration.gateway import ROOT
from tests.integration.gateway import Gateway
from tests.pg import require_postgres
from tests.pg import started
from tests.pg import wait_for

pytestmark = pytest.mark.integration
KEYS = {"alice": "sk-alice-usage-0123", "bob": "sk-bob-usage-0123"}
API_KEYS = ",".join(f"{name}:{key}" for name, key in KEYS.items())
CHAT = {"model": "qwen3-coder", "messages": [{"role": "user", "content": "hello"}]}


def chat(gw: Gateway, key: str, session: requests.Session | None = None) -> int:
    """One non-streamed chat with `key`; its status."""
    resp = (session or requests).post(gw.url + "/v1/chat/completions", json=CHAT, timeout=30,
                                      headers={"Authorization": f"Bearer {key}"})
    return resp.status_code


def chat_lines(gw: Gateway) -> list[dict]:
    """The request log lines of the chats so far."""
    return [line for line in gw.request_lines() if line.get("route") == "/v1/chat/completions"]


def usage_csv(work_dir, *args: str) -> list[dict]:
    """`python -m lingma_flask usage --csv ...` as an operator runs it, with the gateway's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINGMA_") and k != "DATABASE_URL"}
    env.update(LINGMA_WORK_DIR=str(work_dir), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "lingma_flask", "usage", "--csv", *args], env=env,
                          cwd=work_dir.parent, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return list(csv.DictReader(io.StringIO(done.stdout)))


def buffered(gw: Gateway) -> float:
    """The rows the workers hold for the database (the lingma_store_buffered_rows gauge, summed)."""
    text = requests.get(gw.url + "/metrics", timeout=10).text
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "lingma_store_buffered_rows")


def publishing_workers(gw: Gateway) -> set[int]:
    """The pids of the workers that publish instances (the admin API's merged view)."""
    return {int(i["worker_pid"]) for i in gw.get("/admin/api/instances")[1]["instances"]}


def loads_sqlalchemy(pid: int) -> bool:
    """Whether process `pid` has imported SQLAlchemy: its compiled modules are mapped into it."""
    with open(f"/proc/{pid}/maps") as maps:
        return f"{os.sep}sqlalchemy{os.sep}" in maps.read()


def test_usage_per_key_from_two_workers_with_sqlite(tmp_path):
    work = tmp_path / "work"
    gw = Gateway(work, LINGMA_WORKERS="2", LINGMA_API_KEYS=API_KEYS, LINGMA_STORE_INTERVAL="0.2").start()
    try:
        sent = collections.Counter()
        for n in range(12):
            name = "alice" if n % 3 else "bob"
            assert chat(gw, KEYS[name]) == 200
            sent[name] += 1
        # the names the request log gave the keys (record.key): what usage must show; a line is
        # written as its response closes, and read from the gateway's output a moment later
        lines = wait_for(lambda: len(chat_lines(gw)) == 12 and chat_lines(gw), timeout=30)
        logged = collections.Counter(line["key"] for line in lines)
        assert len(logged) == 2 and sorted(logged.values()) == sorted(sent.values())
        rows = wait_for(lambda: (r := usage_csv(work, "--requests", "--since", "1h")) and len(r) == 12 and r,
                        timeout=60)
        assert collections.Counter(row["key"] for row in rows) == logged
        assert {row["route"] for row in rows} == {"/v1/chat/completions"}
        assert all(int(row["prompt_tokens"]) > 0 and row["status"] == "200" for row in rows)
        daily = usage_csv(work, "--since", "1d")
        assert {row["key"]: int(row["requests"]) for row in daily} == dict(logged)
        status, body = gw.get("/admin/api/usage?since=1h")   # a local client: no admin key needed
        assert status == 200
        assert {day["key"]: day["requests"] for day in body["days"]} == dict(logged)
        pids = {row["pid"] for row in body["requests"]}
        worker_pids = {line["worker_pid"] for line in gw.get("/admin/api/instances")[1]["instances"]}
        assert pids and {int(p) for p in pids} <= {int(p) for p in worker_pids}
        assert (work / "lingma.db").exists() and not list(work.glob("w*/lingma.db"))
        assert all(loads_sqlalchemy(int(pid)) for pid in worker_pids)   # so the store-off test can see it
    finally:
        gw.stop()
    # the last rows of a stopping worker are written on its way out
    assert len(usage_csv(work, "--requests", "--since", "1h")) == 12


def test_without_the_store_the_gateway_serves_and_no_worker_loads_sqlalchemy(tmp_path):
    work = tmp_path / "work"
    gw = Gateway(work, LINGMA_WORKERS="2", LINGMA_API_KEYS=API_KEYS, LINGMA_STORE="off").start()
    try:
        for name in ("alice", "bob", "alice"):
            assert chat(gw, KEYS[name]) == 200
        response = requests.post(gw.url + "/v1/responses", json={"model": "qwen3-coder", "input": "hi"},
                                 headers={"Authorization": f"Bearer {KEYS['bob']}"}, timeout=30)
        assert response.status_code == 200 and response.json()["status"] == "completed"
        status, body = gw.get("/admin/api/usage")
        assert status == 404 and body["error"]["code"] == "store_off"
        page = requests.get(gw.url + "/admin/", timeout=10)
        assert page.status_code == 200 and 'id="usage-off"' in page.text
        # every worker's last requests, from this host's status files (published every second)
        wait_for(lambda: len([r for r in gw.get("/admin/api/requests")[1]["requests"]
                              if r["route"] == "/v1/chat/completions"]) == 3, timeout=30)
        pids = wait_for(lambda: len(p := publishing_workers(gw)) == 2 and p, timeout=30)
        assert not any(loads_sqlalchemy(pid) for pid in pids)
        assert not (work / "lingma.db").exists()
    finally:
        assert gw.stop() == 0


def test_a_stopping_worker_writes_its_last_rows(tmp_path):
    """With an hour between writes, the rows reach the database only as the workers exit."""
    work = tmp_path / "work"
    gw = Gateway(work, LINGMA_WORKERS="2", LINGMA_API_KEYS=API_KEYS, LINGMA_STORE_INTERVAL="3600").start()
    try:
        for n in range(5):
            assert chat(gw, KEYS["alice" if n % 2 else "bob"]) == 200
        assert not (work / "lingma.db").exists()   # nothing written yet: not even the migrations
    finally:
        assert gw.stop() == 0
    assert len(usage_csv(work, "--requests", "--since", "1h")) == 5


def test_a_postgresql_outage_fails_no_chat_and_loses_no_row(tmp_path):
    server = started(require_postgres())   # its own: this test stops it
    url = server.create_database()
    engine = create_engine(url)
    gw = Gateway(tmp_path / "work", LINGMA_WORKERS="2", LINGMA_API_KEYS=API_KEYS,
                 LINGMA_DATABASE_URL=url, LINGMA_STORE_INTERVAL="0.2")
    try:
        gw.start()
        statuses: list[int] = []
        stop = threading.Event()

        def load(key: str) -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    statuses.append(chat(gw, key, session))

        def rows() -> int:
            try:
                with engine.connect() as connection:
                    return connection.execute(select(func.count()).select_from(tables.usage)).scalar()
            except ProgrammingError:   # not migrated yet
                return 0

        try:
            threads = [threading.Thread(target=load, args=(key,), daemon=True) for key in KEYS.values() for _ in (1, 2)]
            for thread in threads:
                thread.start()
            wait_for(lambda: rows() > 0, timeout=60)            # the store is written
            server.stop("fast")                                  # the outage, under load
            during = len(statuses)
            wait_for(lambda: any("store unavailable" in line for line in gw.lines), timeout=30)
            wait_for(lambda: buffered(gw) >= 100, timeout=60)   # chats go on, their rows wait
            assert len(statuses) > during
            engine.dispose()
            server.start()
            wait_for(lambda: len(statuses) >= during + 80, timeout=60)
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
        assert statuses and set(statuses) == {200}, collections.Counter(statuses)
        wait_for(lambda: rows() == len(statuses), timeout=60)    # every buffered row arrived
        assert any("store available again" in line for line in gw.lines)
        outages = [line for line in gw.lines if "store unavailable" in line]
        assert 1 <= len(outages) <= 2                            # once per worker, not once per flush
        assert "postgres@127.0.0.1" in outages[0]   # where, as the URL without its password
    finally:
        gw.stop()
        engine.dispose()
        server.close()
