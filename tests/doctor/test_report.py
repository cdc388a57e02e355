"""The doctor's table, summary line, exit status and JSON report."""

import json

import pytest

from lingma_flask.doctor.report import FAIL
from lingma_flask.doctor.report import PASS
from lingma_flask.doctor.report import SKIP
from lingma_flask.doctor.report import Row
from lingma_flask.doctor.report import Widths
from lingma_flask.doctor.report import as_json
from lingma_flask.doctor.report import exit_status
from lingma_flask.doctor.report import format_header
from lingma_flask.doctor.report import format_row
from lingma_flask.doctor.report import summary


def test_columns_line_up_under_the_headings():
    widths = Widths.of([("chat", "tool round trip"), ("completions", "create")])
    lines = [format_header(widths),
             format_row(Row("chat", "tool round trip", PASS, 0.25, '"Hello"'), widths),
             format_row(Row("completions", "create", FAIL, 12.5, "APITimeoutError: x"), widths)]
    for heading in ("CHECK", "RESULT", "DETAIL"):
        column = lines[0].index(heading)
        assert lines[1][column] != " " and lines[2][column] != " "
        assert lines[1][column - 1] == " " and lines[2][column - 1] == " "
    time_end = lines[0].index("TIME") + len("TIME")
    assert lines[1][:time_end].endswith("0.25s") and lines[2][:time_end].endswith("12.50s")


def test_widths_fit_the_longest_name_or_heading():
    assert Widths.of([("a", "b")]) == Widths(len("API"), len("CHECK"))
    assert Widths.of([("completions", "tool call, streamed")]) == Widths(11, 19)


def test_a_row_without_detail_has_no_trailing_spaces():
    line = format_row(Row("models", "list", PASS, 0.1), Widths.of([("models", "list")]))
    assert line == line.rstrip() and line.endswith("0.10s")


@pytest.mark.parametrize("statuses, line, status", [
    ([PASS, PASS], "all 2 checks passed", 0),
    ([PASS, FAIL, FAIL], "2 of 3 checks failed", 1),
    ([FAIL, SKIP, SKIP], "1 of 3 checks failed, 2 skipped", 1),
    ([PASS, SKIP], "0 of 2 checks failed, 1 skipped", 1),
    ([], "all 0 checks passed", 1),
])
def test_summary_and_exit_status(statuses, line, status):
    rows = [Row("chat", f"check {i}", s, 0.0) for i, s in enumerate(statuses)]
    assert summary(rows) == line
    assert exit_status(rows) == status


def test_json_report_holds_every_row():
    rows = [Row("chat", "create", PASS, 0.5, "ok"), Row("chat", "stream", FAIL, 1.0, "no role")]
    report = json.loads(as_json(rows, "http://gw", "auto"))
    assert report["ok"] is False and report["model"] == "auto"
    assert report["base_url"] == "http://gw"
    assert report["checks"][1] == {"api": "chat", "check": "stream", "status": FAIL,
                                   "seconds": 1.0, "detail": "no role"}
