"""`python -m lingma_flask doctor` as a user runs it: on the real gateway and on a broken one."""

import json
import os
import re
import subprocess
import sys
import time

import pytest

from lingma_flask.doctor.checkup import CHECKS
from tests.integration.broken import BrokenGateway
from tests.integration.gateway import API_KEY
from tests.integration.gateway import ROOT

pytestmark = pytest.mark.integration
TABLE_ROW = re.compile(r"^(\S+) +(\S.*?) +(PASS|FAIL|SKIP) +([\d.]+)s(?:  (.*))?$")
BLOCK_ANTHROPIC = "import sys; sys.modules['anthropic'] = None; "


def doctor(base_url, *options, prelude=""):
    """Run the doctor in a subprocess; return the finished process."""
    env = {k: v for k, v in os.environ.items() if k != "LINGMA_GATEWAY_KEY"}
    code = (prelude + "from lingma_flask.__main__ import main; sys.exit(main(sys.argv[1:]))")
    command = ([sys.executable, "-c", "import sys; " + code] if prelude
               else [sys.executable, "-m", "lingma_flask"])
    return subprocess.run(command + ["doctor", "--base-url", base_url, *options], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def rows(done) -> dict:
    """The --json report's rows by (api, check)."""
    report = json.loads(done.stdout)
    return {(row["api"], row["check"]): row for row in report["checks"]}


def table_rows(done) -> dict:
    """The table's rows by (api, check): status, seconds and detail."""
    found = {}
    for line in done.stdout.splitlines():
        match = TABLE_ROW.match(line)
        if match:
            api, check, status, seconds, detail = match.groups()
            found[(api, check)] = {"status": status, "seconds": float(seconds), "detail": detail}
    return found


def test_every_check_passes_against_the_real_gateway(gateway):
    done = doctor(gateway.url, "--api-key", API_KEY, "--timeout", "20")
    assert done.returncode == 0, done.stdout + done.stderr
    found = table_rows(done)
    assert len(found) == len(CHECKS) + 1   # the model listing, then every check
    assert {row["status"] for row in found.values()} == {"PASS"}, done.stdout
    assert done.stdout.splitlines()[-1] == f"all {len(CHECKS) + 1} checks passed"
    assert found[("models", "list")]["detail"].endswith("using the first, auto")
    assert found[("chat", "tool call")]["detail"].startswith("get_weather({")
    assert found[("messages", "tool round trip")]["detail"].startswith('"Tool result: {')


def test_a_wrong_key_fails_every_check_with_the_status(gateway):
    done = doctor(gateway.url, "--api-key", "wrong", "--model", "auto", "--json")
    assert done.returncode == 1
    found = rows(done)
    assert {row["status"] for row in found.values()} == {"FAIL"}
    assert "AuthenticationError" in found[("chat", "create")]["detail"]
    assert "401" in found[("messages", "create")]["detail"]


def test_a_missing_sdk_is_named_and_the_other_rows_still_run(gateway):
    done = doctor(gateway.url + "/v1/", "--api-key", API_KEY, "--model", "dashscope_qwen3_coder",
                  "--json", prelude=BLOCK_ANTHROPIC)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["ok"] is False and report["model"] == "dashscope_qwen3_coder"
    assert report["base_url"] == gateway.url
    for (api, _), row in rows(done).items():
        if api == "messages":
            assert row["status"] == "FAIL"
            assert "the anthropic package is not installed" in row["detail"]
        else:
            assert row["status"] == "PASS", row


@pytest.fixture(scope="module")
def broken():
    with BrokenGateway() as server:
        yield server


def test_a_broken_gateway_fails_the_broken_rows_and_never_hangs(broken):
    started = time.monotonic()
    done = doctor(broken.url, "--timeout", "1")
    assert time.monotonic() - started < 20
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1].endswith(f"of {len(CHECKS) + 1} checks failed")
    found = table_rows(done)
    assert len(found) == len(CHECKS) + 1
    for right in [("models", "list"), ("chat", "create"), ("responses", "create"),
                  ("messages", "create"), ("completions", "create")]:
        assert found[right]["status"] == "PASS", found[right]
    failures = {
        ("chat", "stream"): "the first chunk has no role 'assistant'",
        ("chat", "tool call"): "no tool_calls",
        ("responses", "stream helper"): "response.completed",
        ("messages", "stream helper"): "JSONDecodeError",
        ("messages", "count_tokens"): "input_tokens is 0",
        ("completions", "stream"): "no result within 2s",
    }
    for key, words in failures.items():
        assert found[key]["status"] == "FAIL" and words in found[key]["detail"], found[key]
    assert found[("completions", "stream")]["seconds"] == pytest.approx(2.0)
    assert '"content": "Hello from a broken gateway."' in found[("chat", "stream")]["detail"]
