"""Multiprocess mode without gunicorn: worker processes record, one render merges them all."""

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import multiprocess
from prometheus_client.parser import text_string_to_metric_families

from lingma_flask.ops import metrics

ROOT = Path(__file__).resolve().parents[2]
RECORD = """
import os
from lingma_flask.ops import metrics
metrics.observe_request("/v1/chat/completions", 200, "auto", 1.0, tokens_out=4)
metrics.stream_opened()
metrics.observe_instances([{"name": "lingma-0", "state": "ready", "logged_in": True, "restarts": 1}])
print(os.getpid())
"""


def record_in_a_process(path, worker):
    """Run RECORD in a fresh interpreter as worker `worker`; return its pid."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(path), "LINGMA_WORKER_INDEX": str(worker)}
    done = subprocess.run([sys.executable, "-c", RECORD], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    return int(done.stdout.split()[-1])


def samples(monkeypatch, path):
    """Render in multiprocess mode and return {(name, sorted labels): value}."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(path))
    text = metrics.render().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_render_merges_the_workers_and_drops_a_dead_workers_live_gauges(tmp_path, monkeypatch):
    pid0 = record_in_a_process(tmp_path, 0)
    record_in_a_process(tmp_path, 1)
    merged = samples(monkeypatch, tmp_path)
    requests = ("lingma_requests_total",
                (("key", "local"), ("model", "auto"), ("route", "/v1/chat/completions"), ("status", "200")))
    ready = {w: ("lingma_instance_state", (("instance", "lingma-0"), ("state", "ready"), ("worker", w)))
             for w in ("0", "1")}
    restarts = ("lingma_instance_restarts_total", (("instance", "lingma-0"), ("reason", "failure"), ("worker", "0")))
    assert merged[requests] == 2 and merged[("lingma_tokens_total", (("direction", "out"),))] == 8
    assert merged[("lingma_inflight_streams", ())] == 2
    assert merged[ready["0"]] == 1 and merged[ready["1"]] == 1 and merged[restarts] == 1

    multiprocess.mark_process_dead(pid0, str(tmp_path))
    after = samples(monkeypatch, tmp_path)
    assert after[("lingma_inflight_streams", ())] == 1
    assert ready["0"] not in after and after[ready["1"]] == 1
    assert after[requests] == 2 and after[restarts] == 1  # counters of the dead stay counted
