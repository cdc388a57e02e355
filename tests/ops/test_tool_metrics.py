"""Tool events counted by the metrics (`lingma_tool_events_total`): per tool and event, names bounded.

These counts replaced the gateway's in-memory tool stats (issue 14). The process-wide cap on
tool names may be full of other tests' names, so each test counts through a fresh one.
"""

import threading

import pytest

from lingma_flask.observe import of_app
from lingma_flask.ops import metrics
from lingma_flask.ops.labels import OTHER
from lingma_flask.ops.labels import LabelCap

EVENTS = ("call", "repair", "failure")


def sample(tool, event):
    """One sample of this process's registry, None when the series does not exist."""
    return metrics.REGISTRY.get_sample_value("lingma_tool_events_total", {"tool": tool, "event": event})


def value(tool, event):
    return sample(tool, event) or 0.0


def counts(tools, events=EVENTS):
    return {tool: {event: value(tool, event) for event in events} for tool in tools}


def grown(before, events=EVENTS):
    """The growth of each tool's counts since `before` (from `counts`)."""
    after = counts(before, events)
    return {tool: {event: after[tool][event] - before[tool][event] for event in events} for tool in before}


@pytest.fixture
def names(monkeypatch):
    """A fresh cap on tool names, as large as the metrics' own."""
    cap = LabelCap(metrics._tools.limit)
    monkeypatch.setattr(metrics, "_tools", cap)
    return cap


def test_counts_per_tool_and_event(names):
    before = counts(["tm_read_file", "tm_grep"])
    for tool, event in [("tm_read_file", "call"), ("tm_read_file", "call"), ("tm_read_file", "repair"),
                        ("tm_grep", "failure")]:
        metrics.observe_tool(tool, event)
    assert grown(before) == {
        "tm_read_file": {"call": 2, "repair": 1, "failure": 0},
        "tm_grep": {"call": 0, "repair": 0, "failure": 1},
    }


@pytest.mark.parametrize("event", ["calls", "", "CALL"])
def test_unknown_events_are_never_counted_as_themselves(names, event):
    before = counts(["tm_odd"], EVENTS + (OTHER,))
    metrics.observe_tool("tm_odd", event)
    assert grown(before, EVENTS + (OTHER,)) == {"tm_odd": {"call": 0, "repair": 0, "failure": 0, OTHER: 1}}
    assert sample("tm_odd", event) is None


def test_tool_names_past_the_bound_go_to_other(monkeypatch):
    monkeypatch.setattr(metrics, "_tools", LabelCap(2))
    before = counts(["tm_a", "tm_b", "tm_c", "tm_d", OTHER], ["call"])
    for name in ["tm_a", "tm_b", "tm_c", "tm_d", "tm_a"]:
        metrics.observe_tool(name, "call")
    assert grown(before, ["call"]) == {"tm_a": {"call": 2}, "tm_b": {"call": 1}, "tm_c": {"call": 0},
                                       "tm_d": {"call": 0}, OTHER: {"call": 2}}


def test_tool_names_are_counted_short(names):
    name = "n" * 100_000
    short = name[:names.max_len]
    before = value(short, "repair")
    metrics.observe_tool(name, "repair")
    assert value(short, "repair") == before + 1 and len(short) == 64
    assert sample(name, "repair") is None


def test_counting_from_many_threads_loses_nothing(names):
    before = value("tm_threads", "call")
    start = threading.Barrier(8)

    def work():
        start.wait()
        for _ in range(2000):
            metrics.observe_tool("tm_threads", "call")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert value("tm_threads", "call") == before + 16_000


def test_the_apps_tool_hook_counts_in_the_process_registry(make_app, names):
    hook = of_app(make_app()).tool_event
    before = counts(["tm_hooked"])
    hook("tm_hooked", "repair")
    hook("tm_hooked", "failure")
    assert grown(before) == {"tm_hooked": {"call": 0, "repair": 1, "failure": 1}}
