"""Every log line is scrubbed of secrets and tokens, and the JSON line is json.dumps's text."""

import json
import logging

import pytest

from lingma_flask import logs
from lingma_flask.logs import MASK
from lingma_flask.logs import JsonFormatter
from lingma_flask.logs import register_secrets
from lingma_flask.logs import scrub


@pytest.fixture(autouse=True)
def no_secrets(monkeypatch):
    """The secrets other tests of this process registered (any app's keys) are not these tests'."""
    monkeypatch.setattr(logs, "_secrets", set())


@pytest.mark.parametrize("line, hidden", [
    ("auth: Bearer sk-abc123def456", "sk-abc123def456"),
    ("auth: BEARER sk-abc123def456", "sk-abc123def456"),
    ("auth: bEaReR\tsk-abc123def456", "sk-abc123def456"),
    ("token pt-AbCdEf123456 sent", "pt-AbCdEf123456"),
    ("token PT-AbCdEf123456 sent", "PT-AbCdEf123456"),
    ("refresh Rt-abcdef.123_456 sent", "Rt-abcdef.123_456"),
    ('{"message": "x", "token": "rt-zyxwvu987"}', "rt-zyxwvu987"),
])
def test_tokens_are_masked_whatever_their_case(line, hidden):
    scrubbed = scrub(line)
    assert hidden not in scrubbed
    assert MASK in scrubbed


def test_a_registered_secret_is_masked_anywhere_in_a_line():
    register_secrets(["my-admin-key-4242"])
    assert scrub('{"path": "/x?k=my-admin-key-4242"}') == '{"path": "/x?k=***"}'


@pytest.mark.parametrize("line", [
    '{"id": "req_1", "path": "/v1/chat/completions", "model": "qwen3-coder", "status": 200}',
    "start-up done; part-time; smart-phone",  # "rt-" and "pt-" inside words, too short
    "",
])
def test_a_line_without_tokens_is_unchanged(line):
    assert scrub(line) == line


def test_the_json_line_is_json_dumps_text_with_non_ascii_kept():
    record = logging.LogRecord("lingma_flask.requests", logging.INFO, __file__, 1, "request",
                               None, None)
    fields = {"id": "req_1", "model": "通义", "status": 200, "ratio": 0.5, "stream": True,
              "when": object}
    record.fields = fields
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert {k: data[k] for k in ("id", "model", "status", "ratio", "stream")} == {
        "id": "req_1", "model": "通义", "status": 200, "ratio": 0.5, "stream": True}
    assert data["when"] == str(object)  # default=str for what JSON has no type for
    assert line == json.dumps(data, ensure_ascii=False)
