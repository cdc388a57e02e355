"""LINGMA_LOG_FORMAT=text: a client's control characters cannot start a forged log line."""

import logging
import sys

import pytest

from lingma_flask.logs import TextFormatter
from lingma_flask.logs import configure_logging
from lingma_flask.logs import escape_controls

FORGED = "[2026-01-01 00:00:00 +0000] [1] [INFO] lingma_flask.requests: request id=forged"


@pytest.fixture
def text_client(make_app):
    yield make_app(LOG_FORMAT="text").test_client()
    configure_logging("INFO", "json")  # the format is process-wide: give the next tests JSON back


def request_lines(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_a_newline_in_the_path_stays_in_one_line(text_client, capsys):
    capsys.readouterr()
    text_client.get("/v1/models%0A" + FORGED.replace(" ", "%20") + "%0D%E2%80%A8x")
    lines = request_lines(capsys)
    assert len(lines) == 1, lines
    assert lines[0].startswith("[") and "request id=req_" in lines[0]
    assert "%0A" not in lines[0] and "\\n" + FORGED in lines[0] and "\\r\\u2028x" in lines[0]


def test_a_newline_in_the_model_name_stays_in_one_line(text_client, capsys):
    capsys.readouterr()
    chat = {"model": "gpt-4o\n" + FORGED, "messages": [{"role": "user", "content": "hi"}]}
    text_client.post("/v1/chat/completions", json=chat)
    lines = request_lines(capsys)
    assert len(lines) == 1, lines
    assert "model=gpt-4o\\n" + FORGED in lines[0]


@pytest.mark.parametrize("char, escape", [
    ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\x00", "\\x00"), ("\x1b", "\\x1b"),
    ("\x7f", "\\x7f"), ("\x85", "\\x85"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"),
])
def test_every_control_character_is_escaped(char, escape):
    assert escape_controls(f"a{char}b") == f"a{escape}b"


def test_plain_text_is_unchanged():
    text = "route=/v1/chat/completions model=通义灵码 é ü \\ done"
    assert escape_controls(text) == text


def record(msg, *args, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("lingma_flask.x", logging.WARNING, __file__, 1, msg, args, exc_info)


def test_a_message_argument_cannot_add_a_line():
    line = TextFormatter().format(record("unknown model %s", "m\r\n" + FORGED))
    assert "\n" not in line and "\r" not in line and line.endswith("m\\r\\n" + FORGED)


def test_a_traceback_keeps_its_lines_but_every_one_is_indented():
    try:
        raise ValueError("bad\n" + FORGED)
    except ValueError:
        line = TextFormatter().format(record("failed", exc_info=sys.exc_info()))
    first, *rest = line.split("\n")
    assert first.endswith("lingma_flask.x: failed")
    assert rest[0] == "  Traceback (most recent call last):"
    assert all(each.startswith("  ") for each in rest)
    assert "  " + FORGED in rest  # the forged text is visibly a continuation, not a record
