"""The alert watcher (lingma_flask/ops/alert_watch.py): transitions, pool snapshot, wiring."""

import pytest
import responses

from lingma_flask.lingma.instance import wait_until
from lingma_flask.ops import alert_watch
from lingma_flask.ops import lifecycle
from lingma_flask.ops.alert_claims import SharedAlerts
from lingma_flask.ops.alert_watch import AlertWatcher
from lingma_flask.ops.alert_watch import Seen
from lingma_flask.ops.alert_watch import step
from lingma_flask.ops.alerts import Alert

HOOK = "https://hooks.example.com/services/T/B/secret"


def run(*snapshots):
    """Feed snapshots through `step`; return every alert, in order."""
    seen, alerts = Seen(), []
    for snapshot in snapshots:
        seen, new = step(seen, snapshot)
        alerts += new
    return alerts


@pytest.mark.parametrize("snapshots, expected", [
    # the first observation is the baseline, whatever it says
    ([{"logged_in": False, "failed": ["lingma-0"], "quota_exhausted": True}], []),
    ([{"logged_in": True}, {"logged_in": False}], [Alert("logged_out", False)]),
    ([{"logged_in": False}, {"logged_in": True}], [Alert("logged_out", True)]),
    ([{"logged_in": True}, {"logged_in": True}], []),
    # unknown (no ready instance) keeps the last known value
    ([{"logged_in": True}, {"logged_in": None}, {"logged_in": False}], [Alert("logged_out", False)]),
    ([{"logged_in": None}, {"logged_in": False}], []),
    ([{"failed": []}, {"failed": ["lingma-1"], "errors": {"lingma-1": "gave up"}}, {"failed": []}],
     [Alert("instance_failed", False, "gave up", "lingma-1"), Alert("instance_failed", True, "", "lingma-1")]),
    ([{"failed": ["lingma-0"]}, {"failed": ["lingma-1"]}],
     [Alert("instance_failed", False, "", "lingma-1"), Alert("instance_failed", True, "", "lingma-0")]),
    ([{"quota_exhausted": False}, {"quota_exhausted": True}, {"quota_exhausted": False}],
     [Alert("quota_exhausted", False), Alert("quota_exhausted", True)]),
])
def test_transitions(snapshots, expected):
    assert run(*snapshots) == expected


class RecordingAlerter:
    def __init__(self):
        self.calls = []
        self.assumed = []
        self.stopped = False

    def alert(self, kind, *, recovered, detail="", subject=""):
        self.calls.append((kind, recovered, detail, subject))
        return True

    def assume(self, alert):
        self.assumed.append(alert)

    def stop(self, timeout=5.0):
        self.stopped = True


def test_check_hands_each_transition_to_the_alerter(caplog):
    caplog.set_level("INFO", logger="lingma_flask.ops.alert_watch")
    states = iter([{"logged_in": True, "failed": []},
                   {"logged_in": False, "failed": ["lingma-0"], "errors": {"lingma-0": "crashed"}}])
    alerter = RecordingAlerter()
    watcher = AlertWatcher(alerter, lambda: next(states))
    assert watcher.check() == [] and alerter.calls == []
    assert "baseline failed=[]" in caplog.text  # the login starts as healthy: no baseline to take
    watcher.check()
    assert alerter.calls == [("logged_out", False, "", ""), ("instance_failed", False, "crashed", "lingma-0")]


class HealthPool:
    def __init__(self, instances):
        self.instances = instances

    def health(self):
        return {"ready": True, "instances": self.instances}


def test_pool_snapshot_reads_login_failures_and_the_quota_flag():
    pool = HealthPool([{"name": "lingma-0", "state": "ready", "logged_in": False},
                       {"name": "lingma-1", "state": "failed", "logged_in": False, "last_error": "gave up"}])
    alert_watch.report_quota(True)
    try:
        snapshot = alert_watch.pool_snapshot(pool)
    finally:
        alert_watch.report_quota(False)
    assert snapshot == {"logged_in": False, "failed": ["lingma-1"], "quota_exhausted": True,
                        "errors": {"lingma-0": "", "lingma-1": "gave up"}}
    starting = HealthPool([{"name": "lingma-0", "state": "starting", "logged_in": False}])
    assert alert_watch.pool_snapshot(starting)["logged_in"] is None
    assert alert_watch.pool_snapshot(starting)["quota_exhausted"] is False


def test_no_webhook_no_watcher(make_app):
    app = make_app()
    assert alert_watch.start_watching(app) is None and "lingma_alerts" not in app.extensions


def test_a_webhook_that_is_not_http_is_refused(make_app, caplog):
    app = make_app(ALERT_WEBHOOK="ftp://example.com/x")
    assert alert_watch.start_watching(app) is None and "not an http" in caplog.text


def test_the_worker_watches_its_pool_and_stops_with_it(make_app, pool, monkeypatch):
    monkeypatch.setattr(lifecycle.atexit, "register", lambda *a: None)
    app = make_app(ALERT_WEBHOOK=HOOK, ALERT_INTERVAL="0")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as hook:
        hook.post(HOOK, status=200)
        lifecycle.start_worker(app, type("Worker", (), {"alive": True})())
        watcher = app.extensions["lingma_alerts"]
        assert watcher.alerter.host == "hooks.example.com" and watcher.alerter._gate.min_interval == 0
        assert wait_until(lambda: watcher.seen.failed is not None, 5)  # the baseline is taken at once
        lifecycle.stop_worker(app)
        assert not watcher._ticker._thread.is_alive() and "lingma_alerts" not in app.extensions
        assert "lingma_metrics_poller" not in app.extensions
        assert len(hook.calls) == 0  # a baseline alone alerts nobody


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_gateway_that_starts_logged_out_and_stays_so_alerts_after_the_grace():
    clock, alerter = Clock(), RecordingAlerter()
    watcher = AlertWatcher(alerter, lambda: {"logged_in": False, "failed": []}, grace=30, clock=clock)
    clock.now = 29
    assert watcher.check() == []  # still starting: the login may be on its way
    clock.now = 30
    assert watcher.check() == [Alert("logged_out", False)]
    assert watcher.check() == [] and len(alerter.calls) == 1


def test_a_login_seen_ends_the_grace_so_a_loss_alerts_at_once():
    clock, alerter = Clock(), RecordingAlerter()
    states = iter([{"logged_in": True}, {"logged_in": False}])
    watcher = AlertWatcher(alerter, lambda: next(states), grace=30, clock=clock)
    assert watcher.check() == []
    assert watcher.check() == [Alert("logged_out", False)]  # at t=0, inside the grace


def test_workers_share_one_alert_per_event_and_a_new_worker_keeps_the_account(tmp_path):
    shared_state = {"logged_in": True}
    first, second = RecordingAlerter(), RecordingAlerter()
    watchers = [AlertWatcher(a, lambda: dict(shared_state), shared=SharedAlerts(tmp_path), grace=0)
                for a in (first, second)]
    shared_state["logged_in"] = False
    for watcher in watchers:
        watcher.check()
    assert first.calls + second.calls == [("logged_out", False, "", "")]  # one, not one per worker
    assert second.assumed == [Alert("logged_out", False)]   # so its gate lets the recovery through
    # a reload: the new worker starts from what was announced, and sends nothing new
    reloaded = RecordingAlerter()
    watcher = AlertWatcher(reloaded, lambda: dict(shared_state), shared=SharedAlerts(tmp_path), grace=0)
    assert watcher.check() == [] and reloaded.calls == []
    assert reloaded.assumed == [Alert("logged_out", False)]
    shared_state["logged_in"] = True
    for each in (*watchers, watcher):
        each.check()
    assert [c for a in (first, second, reloaded) for c in a.calls][1:] == [("logged_out", True, "", "")]


def test_instance_alerts_stay_with_their_worker(tmp_path):
    alerts = [RecordingAlerter(), RecordingAlerter()]
    states = [iter([{"failed": []}, {"failed": ["lingma-0"]}]) for _ in alerts]
    watchers = [AlertWatcher(a, lambda s=s: next(s), shared=SharedAlerts(tmp_path))
                for a, s in zip(alerts, states, strict=True)]
    for _ in range(2):
        for watcher in watchers:
            watcher.check()
    assert [a.calls for a in alerts] == [[("instance_failed", False, "", "lingma-0")]] * 2
