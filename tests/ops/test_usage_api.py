"""GET /admin/api/usage and the status page's usage section, on an app with a store in a temp dir."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lingma_flask.ops import usage as ops_usage
from lingma_flask.ops.metrics import REGISTRY
from lingma_flask.ops.usage_chart import OTHERS
from lingma_flask.ops.usage_chart import SERIES
from lingma_flask.ops.usage_chart import chart_svg
from lingma_flask.ops.usage_chart import days_between
from lingma_flask.store import tables
from lingma_flask.store.usage import utcnow

ADMIN_KEY = "admin-key-XYZ-123"
KEYS = {"alice": "sk-alice-0123456789", "bob": "sk-bob-0123456789"}
CHAT = {"model": "qwen3-coder", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def config(tmp_path):
    return {"WORK_DIR": str(tmp_path / "work"), "ADMIN_KEY": ADMIN_KEY,
            "API_KEYS": ",".join(f"{name}:{key}" for name, key in KEYS.items())}


@pytest.fixture
def app(make_app, config):
    """The app, its store hearing the request log as a gunicorn worker's does (its writer is
    not started: the tests flush it)."""
    app = make_app(**config)
    ops_usage.listen(app)
    return app


@pytest.fixture
def chats(app, client, request_log):
    """Three chats by alice, one by bob, one refused (wrong key), written to the store; the key
    names the request log gave them (what `record.key` holds)."""
    for name in ("alice", "alice", "bob", "alice"):
        assert client.post("/v1/chat/completions", json=CHAT,
                           headers={"Authorization": f"Bearer {KEYS[name]}"}).status_code == 200
    assert client.post("/v1/chat/completions", json=CHAT,
                       headers={"Authorization": "Bearer wrong-key-000"}).status_code == 401
    ops_usage.store_of(app).writer.flush()
    return [line.get("key") for line in request_log() if line["route"] == "/v1/chat/completions"]


def admin(client, query: str = "", key: str | None = ADMIN_KEY):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.get("/admin/api/usage" + query, headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.5"})


def test_usage_needs_the_admin_key(chats, client):
    assert admin(client, key=None).status_code == 401
    wrong = admin(client, key="not-the-admin-key")
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "invalid_admin_key"
    assert admin(client).status_code == 200


def test_usage_per_day_and_key(chats, client):
    alice, bob = chats[0], chats[2]
    assert alice and bob and alice != bob and chats[1] == chats[3] == alice
    body = admin(client).get_json()
    assert body["database"].startswith("sqlite:///") and body["buffered"] == 0 and body["dropped"] == 0
    per_key = {day["key"]: day for day in body["days"]}
    assert per_key[alice]["requests"] == 3 and per_key[bob]["requests"] == 1
    assert per_key["local"]["requests"] == 1 and per_key["local"]["errors"] == 1   # the wrong key
    assert per_key[alice]["prompt_tokens"] > 0 and per_key[alice]["completion_tokens"] > 0
    assert body["days"][0]["day"] == utcnow().date().isoformat()
    newest = body["requests"][0]
    assert newest["status"] == 401 and newest["key"] == "local" and newest["at"].endswith("Z")
    assert {r["route"] for r in body["requests"]} == {"/v1/chat/completions"}
    assert "prompt" not in newest


def test_usage_filters(chats, client):
    alice = chats[0]
    mine = admin(client, f"?key={alice}").get_json()
    assert {r["key"] for r in mine["requests"]} == {alice} and len(mine["requests"]) == 3
    assert [d["key"] for d in mine["days"]] == [alice]
    refused = admin(client, "?status=401").get_json()
    assert [r["status"] for r in refused["requests"]] == [401]
    assert admin(client, "?route=/v1/responses").get_json()["requests"] == []
    assert len(admin(client, "?limit=2").get_json()["requests"]) == 2
    assert admin(client, "?since=2999-01-01").get_json()["days"] == []


@pytest.mark.parametrize("query,param", [("?since=soon", "since"), ("?status=4xx", "status"),
                                         ("?limit=-1", "limit")])
def test_bad_filters_are_400s(client, query, param):
    error = admin(client, query).get_json()["error"]
    assert (error["code"], error["param"]) == ("invalid_value", param)


def test_usage_when_the_store_is_off(make_app, tmp_path):
    app = make_app(WORK_DIR=str(tmp_path / "work"), STORE="off", ADMIN_KEY=ADMIN_KEY)
    resp = admin(app.test_client())
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "store_off"
    assert ops_usage.store_of(app) is None


def test_a_test_app_without_a_work_dir_has_no_store(make_app):
    assert ops_usage.store_of(make_app()) is None   # never the user's real data dir


def test_nothing_is_buffered_until_the_worker_starts_its_writer(make_app, config):
    app = make_app(**config)       # as under `flask run`: no writer would ever write the rows
    app.test_client().post("/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {KEYS['bob']}"})
    assert len(ops_usage.store_of(app).usage) == 0


def test_dropped_rows_are_counted_in_the_metric(app, client):
    database = ops_usage.store_of(app)
    database.usage.limit = 1
    before = dropped_rows()
    for _ in range(3):
        client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {KEYS['bob']}"})
    assert database.writer.dropped() == 2
    assert dropped_rows() - before == 2
    metrics = client.get("/metrics").get_data(as_text=True)
    assert re.search(r'^lingma_store_dropped_rows_total\{table="usage"\} \d', metrics, re.M)


def test_tool_calls_and_prompts_reach_the_row(make_app, pool, tmp_path):
    app = make_app(WORK_DIR=str(tmp_path / "work"), LOG_PROMPTS="true")
    database = ops_usage.listen(app)
    pool.script('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>')
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    messages = [{"role": "user", "content": "an earlier question"}, {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "weather in Paris?"}]
    resp = app.test_client().post("/v1/chat/completions", json={**CHAT, "messages": messages, "tools": tools})
    assert resp.get_json()["choices"][0]["finish_reason"] == "tool_calls"
    database.writer.flush()
    with database.connect() as connection:
        row = connection.execute(select(tables.usage)).mappings().one()
    assert (row["tool_calls"], row["finish_reason"], row["prompt"]) == (1, "tool_calls", "weather in Paris?")


def dropped_rows() -> float:
    return REGISTRY.get_sample_value("lingma_store_dropped_rows_total", {"table": "usage"}) or 0.0


# -- the status page ------------------------------------------------------------------------
@pytest.fixture
def page(make_app, tmp_path):
    """An app whose page signs this machine in by itself (no admin key), with a store."""
    app = make_app(WORK_DIR=str(tmp_path / "work"),
                   API_KEYS=",".join(f"{name}:{key}" for name, key in KEYS.items()))
    ops_usage.listen(app)
    return app


def chat_as(client, name: str) -> None:
    assert client.post("/v1/chat/completions", json=CHAT,
                       headers={"Authorization": f"Bearer {KEYS[name]}"}).status_code == 200


def test_the_page_charts_one_series_per_key(page, request_log):
    client = page.test_client()
    for name in ("alice", "bob", "alice"):
        chat_as(client, name)
    ops_usage.store_of(page).writer.flush()
    names = {line["key"] for line in request_log()}
    html = client.get("/admin/").get_data(as_text=True)
    svg = re.search(r'<svg class="usage-chart".*?</svg>', html, re.S).group(0)
    for panel in ("requests", "tokens"):
        group = re.search(rf'<g class="panel" data-panel="{panel}">(.*?)</g></g>(?=<g class="panel"|<g class="legend")',
                          svg, re.S).group(1)
        assert set(re.findall(r'<g class="series" data-key="([^"]+)">', group)) == names
    assert len(re.findall(r"<polyline ", svg)) == 2 * len(names)
    assert 'id="usage-history"' in html and html.count('data-label="Key"') == 3


def test_the_page_history_is_filtered(page, request_log):
    client = page.test_client()
    for name in ("alice", "bob"):
        chat_as(client, name)
    ops_usage.store_of(page).writer.flush()
    bob = [line["key"] for line in request_log()][1]
    html = client.get(f"/admin/?key={bob}").get_data(as_text=True)
    history = re.search(r'<table id="usage-history".*?</table>', html, re.S).group(0)
    assert re.findall(r'<td data-label="Key">([^<]*)</td>', history) == [bob]
    assert f'<option value="{bob}" selected>' in html
    assert 'id="usage-empty"' in client.get("/admin/?status=599").get_data(as_text=True)


def test_the_page_says_when_the_database_cannot_be_read(page, tmp_path):
    (tmp_path / "work").mkdir(parents=True, exist_ok=True)
    (tmp_path / "work" / "lingma.db").write_bytes(b"not a database, " * 100)
    resp = page.test_client().get("/admin/")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200   # the rest of the page works
    assert 'id="usage-error"' in html and "cannot be read now" in html and 'id="instances"' in html


def test_the_chart_escapes_names_and_folds_the_quiet_keys():
    today = utcnow().date()
    daily = [{"day": today, "key": f"k{n}<&>", "requests": 100 - n, "prompt_tokens": 1, "completion_tokens": 1}
             for n in range(SERIES + 3)]
    svg = chart_svg(daily, days_between(today, today))
    keys = re.findall(r'<g class="legend" data-key="([^"]+)">', svg)
    assert len(keys) == SERIES and keys[-1] == OTHERS
    assert "k0&lt;&amp;&gt;" in svg and "<&>" not in svg
