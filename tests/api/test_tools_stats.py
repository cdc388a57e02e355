"""Per-tool counters and the tool log line."""

import json
import logging
import threading

import pytest

from lingma_flask.pipeline.tools import stats
from lingma_flask.pipeline.tools.stats import ToolStats


def test_counts_per_tool_and_event():
    counts = ToolStats()
    for tool, event in [("read_file", "call"), ("read_file", "call"), ("read_file", "repair"),
                        ("grep", "failure")]:
        counts.count(tool, event)
    assert counts.snapshot() == {
        "read_file": {"call": 2, "repair": 1, "failure": 0},
        "grep": {"call": 0, "repair": 0, "failure": 1},
    }


def test_snapshot_is_a_copy():
    counts = ToolStats()
    counts.count("a", "call")
    snap = counts.snapshot()
    snap["a"]["call"] = 99
    assert counts.snapshot()["a"]["call"] == 1


@pytest.mark.parametrize("event", ["calls", "", "CALL"])
def test_unknown_events_are_refused(event):
    with pytest.raises(ValueError):
        ToolStats().count("a", event)


def test_tool_names_past_the_bound_go_to_other():
    counts = ToolStats(max_tools=2)
    for name in ["a", "b", "c", "d", "a"]:
        counts.count(name, "call")
    assert counts.snapshot() == {
        "a": {"call": 2, "repair": 0, "failure": 0},
        "b": {"call": 1, "repair": 0, "failure": 0},
        "(other)": {"call": 2, "repair": 0, "failure": 0},
    }


def test_counting_from_many_threads_loses_nothing():
    counts = ToolStats()
    start = threading.Barrier(8)

    def work():
        start.wait()
        for _ in range(2000):
            counts.count("read_file", "call")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counts.snapshot()["read_file"]["call"] == 16_000


def test_module_functions_use_the_process_counts():
    before = stats.snapshot().get("stats_test_tool", {"call": 0, "repair": 0, "failure": 0})
    stats.count("stats_test_tool", "repair")
    stats.record("stats_test_tool", "failure", "gave up")
    after = stats.snapshot()["stats_test_tool"]
    assert after == {"call": before["call"], "repair": before["repair"] + 1,
                     "failure": before["failure"] + 1}


@pytest.mark.parametrize("event, detail, level, logged_detail", [
    ("call", "read_file {}", logging.INFO, "read_file {}"),
    ("repair", "'path' is a required property", logging.WARNING, "'path' is a required property"),
    ("failure", "x" * 1000, logging.WARNING, "x" * 300),
    ("failure", "读取失败", logging.WARNING, "读取失败"),
])
def test_log_event_writes_one_json_line(caplog, event, detail, level, logged_detail):
    caplog.set_level(logging.INFO, logger="lingma_flask.tools")
    stats.log_event("read_file", event, detail)
    records = [r for r in caplog.records if r.name == "lingma_flask.tools"]
    assert len(records) == 1
    assert records[0].levelno == level
    assert "\n" not in records[0].getMessage()
    assert json.loads(records[0].getMessage()) == {"event": event, "tool": "read_file",
                                                   "detail": logged_detail}
