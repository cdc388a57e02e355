"""GET /metrics and the recording calls of lingma_flask/ops/metrics.py (single-process registry)."""

import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lingma_flask.lingma.errors import LingmaNotReadyError
from lingma_flask.lingma.instance import wait_until
from lingma_flask.ops import metrics
from lingma_flask.ops.labels import LabelCap
from lingma_flask.ops.labels import status_label

ROUTE = "/v1/chat/completions"


def value(name, **labels):
    """Read one sample of this process's registry (0 when the series does not exist yet)."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client, **headers):
    """Return {(sample name, sorted labels): value} from GET /metrics."""
    resp = client.get("/metrics", headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.get_data(as_text=True))
            for s in family.samples}


@pytest.fixture(autouse=True)
def no_known_models():
    yield
    metrics.set_known_models([])


def test_metrics_is_open_without_a_key_and_in_prometheus_text(client):
    before = value("lingma_requests_total", key="local", route=ROUTE, status="200", model="auto")
    metrics.observe_request(ROUTE, 200, "auto", 1.5)
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain" and "version=" in resp.headers["Content-Type"]
    samples = scrape(client)
    key = ("lingma_requests_total", (("key", "local"), ("model", "auto"), ("route", ROUTE), ("status", "200")))
    assert samples[key] == before + 1


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": "Basic s3cret-metrics"},
    {"x-api-key": "s3cret-metrics"},
])
def test_a_metrics_key_refuses_anything_but_its_bearer(make_app, headers):
    client = make_app(METRICS_KEY="s3cret-metrics").test_client()
    resp = client.get("/metrics", headers=headers)
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
    error = resp.get_json()["error"]
    assert error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error"
    assert set(error) == {"message", "type", "param", "code"}
    assert "lingma_" not in resp.get_data(as_text=True)


def test_a_metrics_key_admits_its_bearer(make_app):
    client = make_app(METRICS_KEY="s3cret-metrics").test_client()
    samples = scrape(client, Authorization="Bearer s3cret-metrics")
    assert any(name == "lingma_inflight_streams" for name, _ in samples)


def test_the_metrics_key_from_the_environment_stays_a_string(monkeypatch, make_app):
    monkeypatch.setenv("LINGMA_METRICS_KEY", "null")  # from_prefixed_env would make it None
    client = make_app().test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer null"}).status_code == 200


def test_observe_request_records_latencies_and_tokens():
    count = value("lingma_request_duration_seconds_count", route=ROUTE)
    total = value("lingma_request_duration_seconds_sum", route=ROUTE)
    first = value("lingma_first_token_seconds_count", route=ROUTE)
    tokens_in, tokens_out = value("lingma_tokens_total", direction="in"), value("lingma_tokens_total", direction="out")
    metrics.observe_request(ROUTE, 200, "auto", 2.0, first_token_s=0.25, tokens_in=12, tokens_out=30)
    metrics.observe_request(ROUTE, 429, "auto", 0.5)  # no first token, no tokens
    assert value("lingma_request_duration_seconds_count", route=ROUTE) == count + 2
    assert value("lingma_request_duration_seconds_sum", route=ROUTE) == pytest.approx(total + 2.5)
    assert value("lingma_first_token_seconds_count", route=ROUTE) == first + 1
    assert value("lingma_tokens_total", direction="in") == tokens_in + 12
    assert value("lingma_tokens_total", direction="out") == tokens_out + 30


def test_streams_queue_waits_finishes_and_tools_are_counted():
    streams = value("lingma_inflight_streams")
    waits = value("lingma_queue_wait_seconds_count")
    finish = value("lingma_finish_codes_total", code="601")
    call = value("lingma_tool_events_total", tool="read_file", event="call")
    odd = value("lingma_tool_events_total", tool="read_file", event="other")
    metrics.stream_opened()
    metrics.stream_opened()
    metrics.stream_closed()
    metrics.observe_queue_wait(0.02)
    metrics.observe_finish(601)
    metrics.observe_tool("read_file", "call")
    metrics.observe_tool("read_file", "exploded")  # not an event we know
    assert value("lingma_inflight_streams") == streams + 1
    assert value("lingma_queue_wait_seconds_count") == waits + 1
    assert value("lingma_finish_codes_total", code="601") == finish + 1
    assert value("lingma_tool_events_total", tool="read_file", event="call") == call + 1
    assert value("lingma_tool_events_total", tool="read_file", event="other") == odd + 1
    metrics.stream_closed()


def test_unknown_models_count_as_other_once_the_registry_is_known():
    metrics.set_known_models({"qwen3-coder": "qwen3-coder", "Qwen3-Coder": "qwen3-coder", "gpt-4o": "gpt-4o"})
    labels = {"route": ROUTE, "status": "200"}
    known = value("lingma_requests_total", key="local", model="qwen3-coder", **labels)
    other = value("lingma_requests_total", key="local", model="other", **labels)
    display = value("lingma_requests_total", key="local", model="Qwen3-Coder", **labels)  # earlier tests' counts
    metrics.observe_request(ROUTE, 200, "QWEN3-CODER", 1.0)  # spelled as first known
    metrics.observe_request(ROUTE, 200, "Qwen3-Coder", 1.0)  # the display name: one label, the key
    metrics.observe_request(ROUTE, 200, "made-up-model-1", 1.0)
    metrics.observe_request(ROUTE, 200, "x" * 5000, 1.0)
    assert value("lingma_requests_total", key="local", model="qwen3-coder", **labels) == known + 2
    assert value("lingma_requests_total", key="local", model="Qwen3-Coder", **labels) == display
    assert value("lingma_requests_total", key="local", model="other", **labels) == other + 2
    assert value("lingma_requests_total", key="local", model="made-up-model-1", **labels) == 0


def test_label_cap_keeps_the_first_values_then_says_other_and_truncates():
    cap = LabelCap(2, max_len=8)
    assert [cap("a"), cap("b"), cap("c"), cap("a"), cap("")] == ["a", "b", "other", "a", ""]
    assert LabelCap(5, max_len=8)("abcdefghijkl") == "abcdefgh"
    known = LabelCap(5, known=["Kimi-K2"])
    assert (known("kimi-k2"), known("Kimi-K3")) == ("Kimi-K2", "other")


@pytest.mark.parametrize("raw, label", [(200, "200"), ("503", "503"), (99, "other"), (600, "other"),
                                        ("x", "other"), (None, "other")])
def test_status_labels(raw, label):
    assert status_label(raw) == label


def test_recording_calls_never_raise_and_warn_once(caplog):
    metrics._warned.difference_update({"observe_request", "observe_queue_wait", "observe_instances"})
    count = value("lingma_requests_total", key="local", route=ROUTE, status="200", model="auto")
    with caplog.at_level(logging.WARNING, logger="lingma_flask.ops.metrics"):
        metrics.observe_request(ROUTE, 200, "auto", "not a number")
        metrics.observe_request(ROUTE, 200, "auto", object())
        metrics.observe_queue_wait(None)
        metrics.observe_instances([{"name": "x", "restarts": "many"}])
    warnings = [r for r in caplog.records if r.name == "lingma_flask.ops.metrics"]
    assert [r.getMessage().split()[1] for r in warnings] == ["observe_request", "observe_queue_wait",
                                                            "observe_instances"]
    # all or nothing
    assert value("lingma_requests_total", key="local", route=ROUTE, status="200", model="auto") == count


def test_observe_instances_sets_one_state_and_counts_growth(monkeypatch):
    monkeypatch.setenv("LINGMA_WORKER_INDEX", "7")
    labels = {"worker": "7", "instance": "lingma-9"}
    failures, planned = ({**labels, "reason": reason} for reason in ("failure", "planned"))
    metrics.observe_instances([{"name": "lingma-9", "state": "starting", "restarts": 0}])
    assert value("lingma_instance_state", state="starting", **labels) == 1
    assert value("lingma_instance_restarts_total", **failures) == 0
    metrics.observe_instances([{"name": "lingma-9", "state": "ready", "logged_in": True, "restarts": 2,
                                "reconnects": 3}])
    metrics.observe_instances([{"name": "lingma-9", "state": "ready", "logged_in": True, "restarts": 3,
                                "planned_restarts": 1, "reconnects": 5}])
    assert value("lingma_instance_state", state="ready", **labels) == 1
    assert value("lingma_instance_state", state="starting", **labels) == 0
    assert value("lingma_logged_in", **labels) == 1
    assert value("lingma_instance_restarts_total", **failures) == 2  # a login sync is no failure
    assert value("lingma_instance_restarts_total", **planned) == 1
    assert value("lingma_instance_reconnects_total", **labels) == 5
    # ready means logged in: a connected Lingma without a login is "logged_out"
    metrics.observe_instances([{"name": "lingma-9", "state": "ready", "logged_in": False, "restarts": 3,
                                "planned_restarts": 1}])
    assert value("lingma_instance_state", state="ready", **labels) == 0
    assert value("lingma_instance_state", state="logged_out", **labels) == 1
    assert value("lingma_logged_in", **labels) == 0
    metrics.observe_instances([{"name": "lingma-9", "state": "weird", "restarts": 1}])  # a new pool
    assert value("lingma_instance_state", state="other", **labels) == 1
    assert value("lingma_instance_restarts_total", **failures) == 3


def test_a_scrape_refreshes_this_workers_instances(client, pool):
    pool.ready = False
    samples = scrape(client)
    starting = ("lingma_instance_state", (("instance", "fake-0"), ("state", "starting"), ("worker", "0")))
    assert samples[starting] == 1
    pool.ready = True
    assert scrape(client)[starting] == 0


def test_poll_pool_asks_for_models_only_when_the_pool_is_ready(pool, monkeypatch):
    asked = []
    monkeypatch.setattr(pool, "models", lambda: asked.append(1) or [])
    pool.ready = False  # a real pool would restart its failed instances when asked now
    metrics.poll_pool(pool)
    assert asked == []
    pool.ready = True
    metrics.poll_pool(pool)
    assert asked == [1]


def test_poll_pool_learns_models_and_aliases_and_keeps_them_when_not_ready(pool):
    metrics.poll_pool(pool, {"gpt-4o": "qwen3-coder"})
    before = value("lingma_requests_total", key="local", route=ROUTE, status="200", model="qwen3-coder")
    kimi = value("lingma_requests_total", key="local", route=ROUTE, status="200", model="kmodel")
    metrics.observe_request(ROUTE, 200, "gpt-4o", 1.0)
    pool.models_error = LingmaNotReadyError("starting")
    metrics.poll_pool(pool, {})
    metrics.observe_request(ROUTE, 200, "Kimi-K2", 1.0)
    metrics.observe_request(ROUTE, 200, "unlisted", 1.0)
    # an alias counts under the model it names: one label per model
    assert value("lingma_requests_total", key="local", route=ROUTE, status="200", model="qwen3-coder") == before + 1
    # a display name counts under its key, also while the pool is not ready
    assert value("lingma_requests_total", key="local", route=ROUTE, status="200", model="kmodel") == kimi + 1
    assert value("lingma_requests_total", key="local", route=ROUTE, status="200", model="unlisted") == 0


def test_the_poller_runs_in_the_background_until_stopped(make_app, pool):
    app = make_app()
    pool.ready = False
    ticker = metrics.start_poller(app)
    labels = {"worker": "0", "instance": "fake-0", "state": "starting"}
    assert wait_until(lambda: value("lingma_instance_state", **labels) == 1, 5)
    metrics.stop_poller(app)
    assert not ticker._thread.is_alive() and "lingma_metrics_poller" not in app.extensions
