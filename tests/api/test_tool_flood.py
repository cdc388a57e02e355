"""A flood of tool-call blocks (issue 13, item 14): the log and the repair turn stay small."""

from __future__ import annotations

import json
import logging

import pytest

from lingma_flask.pipeline.tools import contract
from lingma_flask.pipeline.tools import eventlog

URL = "/v1/chat/completions"
WEATHER = {"type": "function", "function": {
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
BROKEN = "<tool_call>\nnot json\n</tool_call>\n"
INVALID = '<tool_call>\n{"name": "get_weather", "arguments": {"town": 1}}\n</tool_call>\n'
VALID = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
FLOOD = (BROKEN + INVALID) * 2_500   # 5,000 blocks, none of them a valid call


class Records(logging.Handler):
    """Keep the records of one logger (the app's logging setup stays as it is)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def tool_log():
    logger = logging.getLogger(eventlog.LOGGER.name)
    handler, level = Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


def events(records) -> dict[str, int]:
    """Return the events the log accounts for: each logged line, plus each summary's counts."""
    counted: dict[str, int] = {}
    for record in records:
        line = json.loads(record.getMessage())
        counts = line["counts"] if line["event"] == "unlogged" else {line["event"]: 1}
        for event, n in counts.items():
            counted[event] = counted.get(event, 0) + n
    return counted


def test_a_flood_of_broken_calls_logs_a_bounded_number_of_lines(client, pool, tool_log, tool_events):
    pool.script(FLOOD)
    pool.script(FLOOD)   # the repair turn floods too
    resp = client.post(URL, json={"model": "qwen3-coder", "tools": [WEATHER],
                                  "messages": [{"role": "user", "content": "weather?"}]})
    assert resp.status_code == 200
    # the invalid calls still named go back as given (LINGMA_INVALID_TOOL_CALLS=pass)
    assert resp.get_json()["choices"][0]["finish_reason"] == "tool_calls"
    warnings = [r for r in tool_log if r.levelno >= logging.WARNING]
    assert len(warnings) <= eventlog.LOG_LIMIT + 2    # the first events, then one summary per check
    assert events(tool_log) == {"repair": 5_000, "failure": 5_000}   # still all accounted for
    # every event reaches the observers (the metrics count them): each block, each turn
    assert tool_events == {(tool, event): 2_500 for tool in ("(unreadable)", "get_weather")
                           for event in ("repair", "failure")}


def test_the_repair_turn_quotes_a_bounded_number_of_problems(client, pool):
    pool.script(FLOOD)
    pool.script(VALID)
    resp = client.post(URL, json={"model": "qwen3-coder", "tools": [WEATHER],
                                  "messages": [{"role": "user", "content": "weather?"}]})
    assert resp.get_json()["choices"][0]["finish_reason"] == "tool_calls"
    first, repair = pool.asks[0][0], pool.asks[1][0]
    quoted = repair[repair.rindex("<tool_call_error>"):repair.rindex("</tool_call_error>")]
    assert len(quoted) < contract.PROBLEMS_CHARS + 200
    assert quoted.count("\n") <= contract.PROBLEMS_SHOWN + 2   # after the tag, each line
    assert "more problems not listed" in quoted
    # the repair prompt is the conversation, the failed answer, and a bounded correction
    assert len(repair) < len(first) + len(FLOOD) + contract.PROBLEMS_CHARS + 1_000


@pytest.mark.parametrize("count, listed", [(1, 1), (10, 10), (11, 10), (5_000, 10)])
def test_repair_text_lists_the_first_problems_and_counts_the_rest(count, listed):
    problems = [f"problem {i}" for i in range(count)]
    lines = contract.repair_text(problems, require_call=True).split("\n")[1:-2]
    assert lines[:listed] == problems[:listed]
    left = count - listed
    rest = [f"... and {left} more problem{'s' if left > 1 else ''} not listed"] if left else []
    assert lines[listed:] == rest


def test_repair_text_caps_the_characters_quoted():
    text = contract.json_repair_text(["y" * 1_000] * 10)
    quoted = text[len("<json_error>\n"):text.index("\n</json_error>")]
    assert len(quoted) <= contract.PROBLEMS_CHARS + 100
    assert quoted.endswith("more problems not listed")


def test_a_request_logs_its_first_events_then_one_summary(tool_log):
    log = eventlog.RequestEvents(limit=3)
    for i in range(10):
        log.record("t", "repair", f"problem {i}")
    log.summarize()
    log.summarize()                     # nothing new: no second line
    assert [json.loads(r.getMessage())["event"] for r in tool_log] == ["repair"] * 3 + ["unlogged"]
    assert json.loads(tool_log[-1].getMessage())["counts"] == {"repair": 7}
    assert tool_log[-1].levelno == logging.WARNING


def test_tool_names_are_logged_short(tool_log):
    # counted short too: tests/ops/test_tool_metrics.py
    name = "n" * 100_000
    eventlog.RequestEvents().record(name, "repair", "x")
    assert json.loads(tool_log[-1].getMessage())["tool"] == "n" * eventlog.NAME_LIMIT
