"""The soak's 1,000-request variant (`bench/soak.py --requests 1000`) as part of `make test`.

One gunicorn gevent worker takes the whole mix (every face, streamed and not, early
disconnects, slow readers, bad requests, one Lingma crash); nothing unexpected may fail and
nothing may leak: descriptors, threads and greenlets equal at rest, the pool's Lingma
processes and nothing more, Lingma keeping no session and running no ask.
"""

import json
import subprocess
import sys

import pytest

from tests.integration.gateway import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def soak(tmp_path_factory):
    """Run the 1,000-request soak once; return its figures and its printed report."""
    out = tmp_path_factory.mktemp("soak") / "soak.json"
    proc = subprocess.run([sys.executable, "bench/soak.py", "--requests", "1000", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    print(proc.stdout[-3000:], proc.stderr[-3000:])
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), proc


def test_every_kind_ran_and_nothing_unexpected_failed(soak):
    figures, proc = soak
    assert figures["requests"] == 1000 and figures["crashes"] == 1
    assert set(figures["kinds"]) == {"ok", "slow", "drop", "bad", "crash"}
    assert figures["unexpected"] == 0 and figures["criteria"]["unexpected errors"], proc.stdout[-3000:]


def test_descriptors_threads_and_greenlets_are_back_where_they_started(soak):
    start, end = soak[0]["readings"]["start"], soak[0]["readings"]["end"]
    assert end["fds"] == start["fds"]
    assert (end["threads"], end["native_threads"], end["greenlets"]) == \
        (start["threads"], start["native_threads"], start["greenlets"])
    assert end["greenlets"] > 0 and end["in_flight"] == end["open_streams"] == 0


def test_the_pool_size_in_lingma_processes_and_a_clean_lingma(soak):
    start, end = soak[0]["readings"]["start"], soak[0]["readings"]["end"]
    assert len(end["lingmas"]) == 1 and end["zombies"] == [] and end["restarts"] - start["restarts"] == 1
    assert end["lingma_side"] == {"connections": 1, "active_asks": 0, "sessions": 0, "acks_missing": 0}


def test_worker_memory_grows_under_ten_percent_after_warm_up(soak):
    readings = soak[0]["readings"]
    growth = (readings["end"]["rss_kb"] - readings["start"]["rss_kb"]) / readings["start"]["rss_kb"]
    print(f"worker RSS {readings['start']['rss_kb']} -> {readings['end']['rss_kb']} kB ({growth:+.1%})")
    assert growth < 0.10


def test_the_soak_exits_zero_when_every_criterion_passes(soak):
    figures, proc = soak
    assert all(figures["criteria"].values()) and proc.returncode == 0


def test_the_log_check_sees_tracebacks_errors_and_500s_in_either_log_format(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    from soak import server_errors

    bad = ['{"level": "ERROR", "logger": "lingma_flask.api", "message": "boom"}',
           '{"level": "INFO", "message": "x", "traceback": "Traceback (most recent call last):"}',
           '{"logger": "lingma_flask.requests", "status": 500, "error": "internal_error"}',
           "[2026-12-01 10:00:00 +0000] [7] [ERROR] lingma_flask.api: boom",
           "request id=req_1 status=500 error=internal_error"]
    fine = ['{"level": "WARNING", "message": "Invalid request from ip=127.0.0.1"}',
            '{"logger": "lingma_flask.requests", "status": 502, "error": "lingma_connection_error"}',
            "request id=req_2 status=5000"]
    assert server_errors("\n".join(bad + fine)) == bad
