"""The doctor's parts that need no server: running a check, the tool's checks, the CLI."""

import io
import json
import socket
import threading

import pytest

from lingma_flask.__main__ import build_parser
from lingma_flask.doctor import tool
from lingma_flask.doctor.checkup import CHECKS
from lingma_flask.doctor.checkup import Settings
from lingma_flask.doctor.checkup import checkup
from lingma_flask.doctor.report import FAIL
from lingma_flask.doctor.report import PASS
from lingma_flask.doctor.report import SKIP
from lingma_flask.doctor.runner import CheckFailed
from lingma_flask.doctor.runner import one_line
from lingma_flask.doctor.runner import run_check
from lingma_flask.doctor.target import gateway_root


def test_a_passing_check_keeps_its_detail_on_one_line():
    row = run_check("chat", "create", lambda: "two\nlines", 5)
    assert (row.status, row.detail) == (PASS, "two lines")
    assert 0 <= row.seconds < 5


def test_an_exception_becomes_a_failed_row_with_its_type():
    def boom():
        raise ValueError("bad\n  value")
    row = run_check("chat", "create", boom, 5)
    assert (row.status, row.detail) == (FAIL, "ValueError: bad value")


def test_a_failed_expectation_reads_as_its_message():
    def wrong():
        raise CheckFailed("finish_reason is 'length'")
    assert run_check("chat", "create", wrong, 5).detail == "finish_reason is 'length'"


def test_a_check_that_never_ends_is_given_up_at_its_deadline():
    release = threading.Event()
    try:
        row = run_check("chat", "stream", lambda: release.wait(30) and "late", 0.2)
    finally:
        release.set()
    assert row.status == FAIL and row.seconds == 0.2
    assert row.detail == "no result within 0.2s: gave up"


def test_long_details_are_cut():
    cut = one_line("x" * 500)
    assert len(cut) == 300 and cut.endswith("…")


@pytest.mark.parametrize("name, arguments, expected", [
    ("get_weather", {"city": "Paris"}, {"city": "Paris"}),
    ("get_weather", '{"city": "Paris"}', {"city": "Paris"}),
])
def test_a_good_call_gives_its_arguments(name, arguments, expected):
    assert tool.check_call(name, arguments) == expected


@pytest.mark.parametrize("name, arguments, words", [
    ("get_time", {"city": "Paris"}, "the call names 'get_time'"),
    ("get_weather", "{city: Paris}", "the arguments are not JSON"),
    ("get_weather", "[1]", "not a JSON object"),
    ("get_weather", {}, "'city' is a required property"),
    ("get_weather", {"city": 3}, "3 is not of type 'string'"),
    ("get_weather", {"city": "Paris", "when": "now"}, "Additional properties"),
])
def test_a_bad_call_fails_with_the_reason(name, arguments, words):
    with pytest.raises(CheckFailed, match=words):
        tool.check_call(name, arguments)


def test_the_tool_result_names_the_city():
    assert '"city": "Paris"' in tool.result({"city": "Paris"})


@pytest.mark.parametrize("given, root", [
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
    ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000"),
    (" https://gw.example/lingma/v1/ ", "https://gw.example/lingma"),
])
def test_the_gateway_root_drops_v1(given, root):
    assert gateway_root(given) == root


def test_the_cli_reads_the_doctors_options(monkeypatch):
    monkeypatch.setenv("LINGMA_GATEWAY_KEY", "from-env")
    args = build_parser().parse_args(["doctor", "--base-url", "http://gw", "--timeout", "2.5"])
    assert (args.base_url, args.api_key, args.model, args.timeout) == ("http://gw", "from-env",
                                                                       None, 2.5)


@pytest.mark.parametrize("argv", [["doctor"], ["doctor", "--base-url", "u", "--timeout", "0"],
                                  []])
def test_the_cli_refuses_bad_command_lines(argv, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_without_a_model_every_check_is_skipped():
    with socket.socket() as probe:   # a port nothing listens on: connections are refused
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    out = io.StringIO()
    status = checkup(Settings(url, "none", None, 5.0, json=True), out)
    report = json.loads(out.getvalue())
    assert status == 1 and report["ok"] is False and report["model"] is None
    first, *others = report["checks"]
    assert first["status"] == FAIL and "APIConnectionError" in first["detail"]
    assert len(others) == len(CHECKS)
    assert {row["status"] for row in others} == {SKIP}
