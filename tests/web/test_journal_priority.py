"""Under systemd each log line starts with its syslog priority, so `journalctl -p warning` finds it.

journald reads a leading `<N>` on a line of a service's stdout or stderr as the line's priority
(SyslogLevelPrefix=yes, the default) and strips it. systemd tells a service which stream is the
journal with JOURNAL_STREAM=<device>:<inode>; anywhere else the lines are left as they were.
"""

import importlib
import json
import logging
import os
import sys

import pytest

from lingma_flask.logs import REQUEST_LOGGER
from lingma_flask.logs import JournalAwareHandler
from lingma_flask.logs import JsonFormatter
from lingma_flask.logs import TextFormatter
from lingma_flask.logs import configure_logging
from lingma_flask.logs import gunicorn_logconfig


def open_stream(path):
    return open(path, "w+", encoding="utf-8")  # noqa: SIM115 - closed by the fixture


@pytest.fixture
def journal(tmp_path, monkeypatch):
    """A file standing in for the journal's stream, named by JOURNAL_STREAM as systemd does."""
    stream = open_stream(tmp_path / "journal")
    info = os.fstat(stream.fileno())
    monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino}")
    yield stream
    stream.close()


def written(stream, level, message="hello", formatter=None, exc_info=None) -> str:
    """Emit one record through a JournalAwareHandler on `stream`; return what it wrote."""
    handler = JournalAwareHandler(stream)
    handler.setFormatter(formatter or JsonFormatter())
    handler.handle(logging.LogRecord("lingma_flask.test", level, __file__, 1, message, None, exc_info))
    stream.seek(0)
    return stream.read()


@pytest.mark.parametrize("level, prefix", [
    (logging.DEBUG, "<7>"), (logging.INFO, "<6>"), (logging.WARNING, "<4>"),
    (logging.ERROR, "<3>"), (logging.CRITICAL, "<2>"), (logging.WARNING + 5, "<4>"),
])
def test_a_line_to_the_journal_starts_with_its_priority(journal, level, prefix):
    line = written(journal, level)
    assert line.startswith(prefix + "{") and line.endswith("}\n")
    assert json.loads(line[len(prefix):])["message"] == "hello"


def test_each_line_of_a_traceback_carries_the_priority(journal):
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        text = written(journal, logging.ERROR, "failed", TextFormatter(), sys.exc_info())
    lines = text.splitlines()
    assert len(lines) > 2 and all(line.startswith("<3>") for line in lines)
    assert "failed" in lines[0] and lines[-1].startswith("<3>  RuntimeError: boom")


def test_no_prefix_without_journal_stream(tmp_path, monkeypatch):
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    stream = open_stream(tmp_path / "out")
    with stream:
        assert written(stream, logging.WARNING).startswith('{"time": ')


def test_no_prefix_when_the_stream_is_not_the_one_systemd_named(journal, tmp_path):
    # JOURNAL_STREAM passed on to a process whose output goes to a file or a terminal
    stream = open_stream(tmp_path / "elsewhere")
    with stream:
        assert written(stream, logging.WARNING).startswith('{"time": ')


def test_request_lines_and_gunicorns_lines_get_it_too(journal, monkeypatch):
    monkeypatch.setattr(sys, "stdout", journal)
    configure_logging("INFO")
    logging.getLogger(REQUEST_LOGGER).info("request", extra={"fields": {"id": "req_1"}})
    journal.seek(0)
    assert journal.read().startswith('<6>{"time": ')
    handlers = gunicorn_logconfig("json")["handlers"].values()
    for handler in handlers:
        module, _, name = handler["class"].rpartition(".")
        assert issubclass(getattr(importlib.import_module(module), name), JournalAwareHandler)
