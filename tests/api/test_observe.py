"""The observation hooks (lingma_flask/observe.py): ops hears the request path without being imported."""

import types

from lingma_flask.lingma.errors import LingmaQuotaError
from lingma_flask.observe import Hook
from lingma_flask.observe import Observers
from lingma_flask.observe import of_app
from lingma_flask.ops import alert_watch
from lingma_flask.ops import metrics
from lingma_flask.web.requestlog import RequestRecord

CHAT = "/v1/chat/completions"
TOOLS = [{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}}]
CALL = '<tool_call>\n{"name": "read_file", "arguments": {}}\n</tool_call>'


def value(name, **labels):
    """Read one sample of this process's registry (0 when the series does not exist yet)."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def chat(client, **extra):
    return client.post(CHAT, json={"model": "qwen3-coder", "messages": [{"role": "user", "content": "x"}],
                                   **extra})


def test_a_hook_calls_each_subscriber_once_in_order():
    heard, hook = [], Hook()
    first, second = (lambda x: heard.append(("first", x))), (lambda x: heard.append(("second", x)))
    hook.subscribe(first)
    hook.subscribe(second)
    hook.subscribe(first)  # subscribing twice has no effect
    hook(7)
    assert heard == [("first", 7), ("second", 7)]
    Observers().tool_event("read_file", "call")  # nobody subscribed: nothing happens


def test_create_app_subscribes_metrics_and_alerts_to_its_own_hooks(make_app):
    app, other = make_app(), make_app()
    assert of_app(app) is of_app(app) and of_app(app) is not of_app(other)
    assert of_app(app).tool_event._subscribers == [metrics.observe_tool]
    assert of_app(app).quota._subscribers == [alert_watch.report_quota]


def test_a_record_made_outside_an_app_tells_nobody():
    RequestRecord("req_1", "POST", CHAT).write()  # no observers: no metrics, no error


def test_tool_events_finish_codes_and_streams_reach_the_metrics(client, pool):
    calls = value("lingma_tool_events_total", tool="read_file", event="call")
    finishes = value("lingma_finish_codes_total", code="601")
    requests = value("lingma_requests_total", key="local", route=CHAT, status="200", model="qwen3-coder")
    streams = value("lingma_inflight_streams")
    ask = pool.ask

    def ask_with_finish(*args, **kwargs):
        stream = ask(*args, **kwargs)
        stream.finish = types.SimpleNamespace(status_code=601)
        return stream

    pool.ask = ask_with_finish
    pool.script(CALL)
    assert chat(client, tools=TOOLS).get_json()["choices"][0]["finish_reason"] == "tool_calls"
    pool.script("hi")
    resp = chat(client, stream=True)
    assert value("lingma_inflight_streams") == streams + 1  # the stream's generator has started
    resp.get_data()
    assert value("lingma_inflight_streams") == streams
    assert value("lingma_tool_events_total", tool="read_file", event="call") == calls + 1
    assert value("lingma_finish_codes_total", code="601") == finishes + 2
    assert value("lingma_requests_total", key="local", route=CHAT, status="200", model="qwen3-coder") == requests + 2


def test_the_quota_state_reaches_the_alert_watcher(client, pool):
    pool.script(LingmaQuotaError("quota exhausted"))
    try:
        assert chat(client).status_code == 429
        assert alert_watch._quota_exhausted.is_set()
        pool.script("an answer")
        assert chat(client).status_code == 200
        assert not alert_watch._quota_exhausted.is_set()
    finally:
        alert_watch.report_quota(False)
