"""The tool log line (pipeline/tools/eventlog.py); the counts are the metrics' (tests/ops/test_tool_metrics.py)."""

import json
import logging

import pytest

from lingma_flask.pipeline.tools import eventlog


@pytest.mark.parametrize("event, detail, level, logged_detail", [
    ("call", "read_file {}", logging.INFO, "read_file {}"),
    ("repair", "'path' is a required property", logging.WARNING, "'path' is a required property"),
    ("failure", "x" * 1000, logging.WARNING, "x" * 300),
    ("failure", "读取失败", logging.WARNING, "读取失败"),
])
def test_log_event_writes_one_json_line(caplog, event, detail, level, logged_detail):
    caplog.set_level(logging.INFO, logger="lingma_flask.tools")
    eventlog.log_event("read_file", event, detail)
    records = [r for r in caplog.records if r.name == "lingma_flask.tools"]
    assert len(records) == 1
    assert records[0].levelno == level
    assert "\n" not in records[0].getMessage()
    assert json.loads(records[0].getMessage()) == {"event": event, "tool": "read_file",
                                                   "detail": logged_detail}
