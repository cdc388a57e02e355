"""The webhook alerter (lingma_flask/ops/alerts.py): gate, payload, retries, never blocking."""

import json
import logging
import threading

import pytest
import requests
import responses

from lingma_flask.lingma.instance import wait_until
from lingma_flask.ops.alerts import Alert
from lingma_flask.ops.alerts import Alerter
from lingma_flask.ops.alerts import AlertGate
from lingma_flask.ops.alerts import message

URL = "https://hooks.example.com/services/T000/B000/s3cr3t-token"


def wait_for(condition):
    return wait_until(condition, 5, interval=0.005)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def make_alerter(sleeps):
    made = []

    def make(**kw):
        kw = {"sleep": sleeps.append, "tick": 0.01, **kw}
        alerter = Alerter(URL, **kw)
        made.append(alerter)
        return alerter

    yield make
    for alerter in made:
        alerter.stop()


@pytest.fixture
def hook():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def texts(hook):
    return [json.loads(call.request.body)["text"] for call in hook.calls]


# -- the gate ------------------------------------------------------------------------------
LO, LI = ("logged_out", False), ("logged_out", True)


@pytest.mark.parametrize("events, sent", [
    # (kind, recovered, time) ... -> indexes of the events sent at once
    ([(*LO, 0), (*LO, 1), (*LO, 500)], [0]),                 # the same state is not re-sent
    ([(*LI, 0)], []),                                         # nothing to recover from
    ([(*LO, 0), (*LI, 10), (*LO, 20)], [0, 1]),               # the 3rd comes too soon: held
    ([(*LO, 0), (*LI, 10), (*LO, 400)], [0, 1, 2]),           # the window has passed
    ([(*LO, 0), ("quota_exhausted", False, 1)], [0, 1]),      # kinds are separate
])
def test_gate_sends_state_changes_at_most_once_per_interval(events, sent):
    gate = AlertGate(300)
    out = [i for i, (kind, recovered, at) in enumerate(events) if gate.offer(Alert(kind, recovered), at)]
    assert out == sent


def test_gate_releases_a_held_change_when_its_window_opens():
    gate = AlertGate(300)
    gate.offer(Alert("logged_out", False, "first"), 0)
    gate.offer(Alert("logged_out", True), 10)
    assert gate.offer(Alert("logged_out", False, "again"), 20) is None
    assert gate.next_due() == 300 and gate.due(299) == []
    assert gate.due(300) == [Alert("logged_out", False, "again")] and gate.next_due() is None


def test_gate_forgets_a_held_change_that_was_undone():
    gate = AlertGate(300)
    gate.offer(Alert("logged_out", False), 0)
    gate.offer(Alert("logged_out", True), 10)
    gate.offer(Alert("logged_out", False), 20)   # held
    gate.offer(Alert("logged_out", True), 30)    # back to what was last sent
    assert gate.next_due() is None and gate.due(1000) == []


def test_gate_sends_the_recovery_of_an_alert_another_worker_sent():
    gate = AlertGate(300)
    assert gate.offer(Alert("logged_out", True), 0) is None   # nothing here to recover from
    gate.assume(Alert("logged_out", False))                   # but another worker alerted
    assert gate.offer(Alert("logged_out", True), 1) == Alert("logged_out", True)


def test_gate_keeps_instances_apart():
    gate = AlertGate(300)
    assert gate.offer(Alert("instance_failed", False, "", "lingma-0"), 0)
    assert gate.offer(Alert("instance_failed", False, "", "lingma-1"), 1)
    assert gate.offer(Alert("instance_failed", True, "", "lingma-0"), 2)


def test_messages_say_what_happened_and_where():
    assert message(Alert("logged_out", False, "w0"), "host-a") == (
        "ALERT [host-a] Lingma is logged out: chats are refused until it logs in again (w0)")
    assert message(Alert("instance_failed", True, "", "lingma-1")).startswith(
        "RECOVERED Lingma instance lingma-1 is ready again")
    assert "quota_exhausted recovered" in message(Alert("quota_exhausted", True))


# -- delivery ------------------------------------------------------------------------------
def test_an_alert_is_posted_as_slack_json(make_alerter, hook):
    hook.post(URL, status=200)
    alerter = make_alerter(source="host-a")
    assert alerter.alert("logged_out", recovered=False, detail="account alice") is True
    assert wait_for(lambda: len(hook.calls) == 1)
    request = hook.calls[0].request
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "text": "ALERT [host-a] Lingma is logged out: chats are refused until it logs in again (account alice)"}


def test_recovery_is_sent_after_the_alert(make_alerter, hook):
    hook.post(URL, status=200)
    alerter = make_alerter()
    alerter.alert("quota_exhausted", recovered=False, detail="")
    alerter.alert("quota_exhausted", recovered=True, detail="")
    alerter.alert("quota_exhausted", recovered=True, detail="")  # same state again: not re-sent
    alerter.alert("logged_out", recovered=True, detail="")      # never reported: nothing to recover
    assert wait_for(lambda: len(hook.calls) == 2)
    alerter.stop()
    assert [t.split()[0] for t in texts(hook)] == ["ALERT", "RECOVERED"]
    assert "quota" in texts(hook)[1]


def test_server_errors_and_429_are_retried_with_backoff_and_retry_after(make_alerter, hook, sleeps):
    hook.post(URL, status=503)
    hook.post(URL, status=429, headers={"Retry-After": "7"})
    hook.post(URL, status=429, headers={"Retry-After": "86400"})
    hook.post(URL, status=200)
    alerter = make_alerter(backoff=0.5, retries=3)
    assert alerter.deliver(Alert("logged_out", False)) is True
    assert len(hook.calls) == 4 and sleeps == [0.5, 7.0, 60.0]  # backoff, Retry-After, capped


def test_a_dead_webhook_is_tried_retries_plus_one_times_and_logged_without_its_url(
        make_alerter, hook, sleeps, caplog):
    hook.post(URL, body=requests.ConnectionError("refused: " + URL))
    alerter = make_alerter(backoff=1.0, retries=3)
    with caplog.at_level(logging.WARNING, logger="lingma_flask.ops.alerts"):
        assert alerter.deliver(Alert("instance_failed", False, "", "lingma-0")) is False
    assert len(hook.calls) == 4 and sleeps == [1.0, 2.0, 4.0]
    logged = caplog.text
    assert "hooks.example.com" in logged and "4 attempt" in logged
    assert "s3cr3t" not in logged and "/services/" not in logged


def test_a_client_error_is_not_retried(make_alerter, hook, sleeps):
    hook.post(URL, status=404)
    assert make_alerter().deliver(Alert("logged_out", False)) is False
    assert len(hook.calls) == 1 and sleeps == []


def test_a_held_alert_goes_out_when_the_clock_reaches_its_window(make_alerter, hook):
    hook.post(URL, status=200)
    clock = FakeClock()
    alerter = make_alerter(min_interval=300, clock=clock)
    alerter.alert("logged_out", recovered=False, detail="1")
    alerter.alert("logged_out", recovered=True, detail="2")
    assert wait_for(lambda: len(hook.calls) == 2)
    alerter.alert("logged_out", recovered=False, detail="3")  # too soon: held
    clock.now += 299
    alerter.alert("instance_failed", recovered=False, detail="", subject="lingma-0")  # a marker
    assert wait_for(lambda: len(hook.calls) == 3)
    assert "(3)" not in texts(hook)[-1]
    clock.now += 1
    assert wait_for(lambda: len(hook.calls) == 4)
    assert texts(hook)[-1].endswith("(3)")


def test_alert_returns_at_once_while_the_webhook_hangs_and_drops_when_full(make_alerter, hook, caplog):
    release = threading.Event()
    arrived = []

    def hang(request):
        arrived.append(json.loads(request.body)["text"])
        release.wait(10)
        return (200, {}, "")

    hook.add_callback(responses.POST, URL, callback=hang)
    alerter = make_alerter(max_queue=2)
    assert alerter.alert("logged_out", recovered=False, detail="")
    assert wait_for(lambda: len(arrived) == 1)     # the sender is now stuck inside its POST
    queued = [alerter.alert("quota_exhausted", recovered=False, detail=""),
              alerter.alert("instance_failed", recovered=False, detail="", subject="lingma-0")]
    with caplog.at_level(logging.WARNING, logger="lingma_flask.ops.alerts"):
        dropped = alerter.alert("instance_failed", recovered=False, detail="", subject="lingma-1")
    assert len(arrived) == 1 and not release.is_set()  # every call above returned while it hung
    assert queued == [True, True] and dropped is False and "queue full" in caplog.text
    release.set()
    assert wait_for(lambda: len(arrived) == 3)


def test_after_stop_alerts_are_refused(make_alerter, hook):
    alerter = make_alerter()
    alerter.stop()
    assert alerter.alert("logged_out", recovered=False, detail="") is False
    assert alerter._thread is None and len(hook.calls) == 0
