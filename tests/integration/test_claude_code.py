"""Claude Code itself (the pinned CLI, headless) against real gunicorn + gevent + the simulator."""

import base64
import json

import pytest

from lingma_flask.lingma.instance import wait_until
from tests.integration.agents import claude_binary
from tests.integration.agents import run_claude
from tests.integration.gateway import API_KEY
from tests.integration.gateway import Gateway

pytestmark = pytest.mark.integration
THINKING = "dashscope_qwen_plus_20250428_thinking"


@pytest.fixture(scope="module")
def claude():
    return claude_binary()


def run(claude, gateway, tmp_path, prompt, expected_requests, **kwargs):
    """Run Claude Code once; return its run and the request log lines it caused."""
    mark = len(gateway.lines)
    done = run_claude(claude, tmp_path, gateway.url, API_KEY, prompt, **kwargs)
    wait_until(lambda: len(gateway.request_lines(mark)) >= expected_requests, 10)
    return done, gateway.request_lines(mark)


def messages(lines):
    return [entry for entry in lines if entry["route"] == "/v1/messages"]


def test_a_prompt_is_one_streamed_request(claude, gateway, tmp_path):
    done, lines = run(claude, gateway, tmp_path, "Say hello [[sim:chunks=6]]", 1)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.result["is_error"] is False and done.result["result"].startswith("You said:")
    asked = messages(lines)
    assert [(e["stream"], e["status"], e["finish_reason"]) for e in asked] == [(True, 200, "stop")]


def test_the_read_tool_round_trip(claude, gateway, tmp_path):
    args = {"file_path": str(tmp_path / "work" / "secret.txt")}
    marker = base64.urlsafe_b64encode(json.dumps(args).encode()).decode().rstrip("=")
    prompt = f"Read the secret file [[sim:tool=Read,tool_args={marker}]]"
    done, lines = run(claude, gateway, tmp_path, prompt, 2)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SECRET-CONTENT-42" in done.result["result"]
    asked = messages(lines)
    assert [(e["stream"], e["finish_reason"]) for e in asked] == [(True, "tool_calls"),
                                                                   (True, "stop")]


def test_thinking_on_the_reasoning_model(claude, gateway, tmp_path):
    done, lines = run(claude, gateway, tmp_path, "Think first", 1, model=THINKING)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.result["result"].startswith("You said:")
    assert done.result["usage"]["output_tokens_details"]["thinking_tokens"] > 0
    assert [e["model"] for e in messages(lines)] == [THINKING]


def test_context_is_counted_with_count_tokens(claude, gateway, tmp_path):
    done, lines = run(claude, gateway, tmp_path, "/context", 2)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Tokens:" in done.result["result"]
    counted = [e for e in lines if e["route"] == "/v1/messages/count_tokens"]
    assert len(counted) >= 2 and {e["status"] for e in counted} == {200}
    assert not messages(lines)


def test_a_lingma_failure_is_reported_once(claude, gateway, tmp_path):
    done, lines = run(claude, gateway, tmp_path, "fail [[sim:finish=429]]", 1)
    assert done.returncode == 1 and done.result["is_error"] is True
    assert "429" in done.result["result"]   # Lingma's own words, from the stream's error event
    assert [(e["status"], e["error"]) for e in messages(lines)] == [(200, "rate_limit_exceeded")]


def test_a_prompt_over_the_limit_reads_as_prompt_too_long(claude, tmp_path):
    small = Gateway(tmp_path / "gw", LINGMA_MAX_PROMPT_CHARS="3000").start()
    try:
        done = run_claude(claude, tmp_path / "run", small.url, API_KEY, "Say hello")
    finally:
        small.stop()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "prompt is too long" in done.result["result"].lower()
