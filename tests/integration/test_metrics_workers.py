"""/metrics under real gunicorn: two workers' values add up, a killed worker's live gauges go."""

import collections
import os
import re
import signal

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from lingma_flask.lingma.instance import wait_until
from tests.integration.gateway import Gateway

pytestmark = pytest.mark.integration
KEY = "metrics-key-1"
APP = "tests.integration.metrics_app:app"


def served_by(gw, path) -> int:
    """POST a test route and return the pid of the worker that answered."""
    resp = requests.post(gw.url + path, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()["pid"]


def until_both_workers(gw, path, deadline=60) -> collections.Counter:
    """POST `path` until two different workers have answered; count answers per worker pid."""
    served = collections.Counter()

    def both():
        served[served_by(gw, path)] += 1
        return len(served) == 2

    assert wait_until(both, deadline, interval=0)
    return served


def scrape(gw) -> list:
    """Return every sample of GET /metrics (with the key)."""
    resp = requests.get(gw.url + "/metrics", headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert resp.status_code == 200, resp.text
    return [s for family in text_string_to_metric_families(resp.text) for s in family.samples]


def total(samples, name, **labels) -> float:
    """Sum the samples called `name` whose labels include `labels`."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def metrics_dir(gw) -> str:
    """The multiprocess directory the master announced."""
    return next(m.group(1) for line in gw.lines
                if (m := re.search(r"metrics: multiprocess files in ([^\s\"]+)", line)))


def test_two_workers_add_up_and_a_killed_workers_live_gauges_go(tmp_path):
    gw = Gateway(tmp_path / "work", wsgi=APP, LINGMA_WORKERS="2", LINGMA_METRICS_KEY=KEY).start()
    try:
        assert requests.get(gw.url + "/metrics", timeout=10).status_code == 401
        path = metrics_dir(gw)
        served = until_both_workers(gw, "/test/observe")
        count = sum(served.values())
        # a request is counted when its response is closed, just after the client has it
        assert wait_until(lambda: total(scrape(gw), "lingma_requests_total", route="/test/observe") == count, 10)
        for _ in range(6):  # whichever worker answers the scrape reports both
            samples = scrape(gw)
            assert total(samples, "lingma_requests_total", route="/test/observe", status="200") == count
            assert total(samples, "lingma_tokens_total", direction="out") == 5 * count
        opened = until_both_workers(gw, "/test/stream-open")
        assert total(scrape(gw), "lingma_inflight_streams") == sum(opened.values())
        assert wait_until(lambda: all(total(scrape(gw), "lingma_instance_state", worker=w, state="ready") == 1
                                      for w in ("0", "1")), 30)

        victim = next(iter(opened))
        os.kill(victim, signal.SIGKILL)
        assert wait_until(lambda: not os.path.exists(os.path.join(path, f"gauge_livesum_{victim}.db")), 15)
        samples = scrape(gw)
        assert total(samples, "lingma_inflight_streams") == sum(opened.values()) - opened[victim]
        assert total(samples, "lingma_requests_total", route="/test/observe") == count  # counters stay
        # the victim's replacement is up: a TERM sent while a worker boots is lost, and the
        # stop below would wait out the graceful timeout
        assert wait_until(lambda: all(total(scrape(gw), "lingma_instance_state", worker=w, state="ready") == 1
                                      for w in ("0", "1")), 30)
    finally:
        assert gw.stop() == 0
    assert not os.path.exists(path)  # the private directory went with the server
    assert not any("MonkeyPatchWarning" in line for line in gw.lines)


def test_an_operator_directory_is_emptied_at_start_and_kept(tmp_path):
    chosen = tmp_path / "prom"
    chosen.mkdir()
    (chosen / "counter_999999.db").write_bytes(b"stale")
    gw = Gateway(tmp_path / "work", wsgi=APP, PROMETHEUS_MULTIPROC_DIR=str(chosen)).start()
    try:
        assert metrics_dir(gw) == str(chosen) and not (chosen / "counter_999999.db").exists()
        served_by(gw, "/test/observe")
        # no key configured: open (and the connection closed: `resp` kept alive would keep it
        # open, and the stop would wait out gunicorn's 5 s keepalive for it)
        resp = requests.get(gw.url + "/metrics", timeout=10, headers={"Connection": "close"})
        assert resp.status_code == 200 and 'route="/test/observe"' in resp.text
    finally:
        gw.stop()
    assert chosen.is_dir()
