"""Codex CLI end to end: `codex exec` against real gunicorn + gevent + the simulator.

The pinned CLI comes from tests/integration/agents.py (installed into a cache dir when missing).
Codex offers `apply_patch` as a custom (freeform) tool only for a model its catalog marks so,
such as `gpt-5.5`, a `gpt-*` name the gateway answers with Lingma's default model.
"""

import base64
import json

import pytest

from tests.integration.agents import codex_binary
from tests.integration.agents import run_codex
from tests.integration.gateway import API_KEY

pytestmark = pytest.mark.integration
THINKING = "dashscope_qwen_plus_20250428_thinking"
PATCHING = "gpt-5.5"   # Codex's catalog offers apply_patch (freeform) for this name


@pytest.fixture(scope="module")
def codex():
    return codex_binary()


@pytest.fixture
def run(codex, gateway, tmp_path):
    def go(prompt, **options):
        return run_codex(codex, tmp_path, gateway.url + "/v1", API_KEY, prompt, **options)
    return go


def items(result, kind):
    """The completed items of one kind in `codex exec --json` output."""
    events = [json.loads(line) for line in result.events if line.startswith("{")]
    return [e["item"] for e in events
            if e.get("type") == "item.completed" and e["item"]["type"] == kind]


def test_a_plain_answer(run):
    result = run("hello codex")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.last_message == "You said: hello codex"
    assert [i["text"] for i in items(result, "agent_message")] == ["You said: hello codex"]


def test_reasoning_shows_as_a_reasoning_item(run):
    result = run("why is the sky blue", model=THINKING)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [i["text"] for i in items(result, "reasoning")] == ["Thinking about: why is the sky blue"]
    assert result.last_message == "You said: why is the sky blue"


def test_a_shell_call_runs_and_its_output_comes_back(run):
    args = base64.urlsafe_b64encode(json.dumps({"cmd": "cat secret.txt"}).encode()).decode()
    result = run(f"read it [[sim:tool=exec_command,tool_args={args.rstrip('=')}]]")
    assert result.returncode == 0, result.stderr[-2000:]
    [command] = items(result, "command_execution")
    assert "cat secret.txt" in command["command"] and command["exit_code"] == 0
    assert command["aggregated_output"] == "SECRET-CONTENT-42\n"
    assert result.last_message.startswith("Tool result: ")
    assert "SECRET-CONTENT-42" in result.last_message


def test_heartbeats_outlast_codexs_idle_timeout(run):
    result = run("slow start [[sim:ttft=2.5]]", idle_ms=1000)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.last_message == "You said: slow start"


@pytest.mark.parametrize("marker, words", [
    ("finish=429", "rate limit"),
    ("finish=403 reason=quota_exhausted", "Quota exceeded"),
])
def test_failures_reach_codex_as_failed_responses(run, marker, words):
    result = run(f"fail [[sim:{marker}]]")
    assert result.returncode == 1
    assert words in result.stdout + result.stderr


def patch_marker(patch):
    """The simulator marker that makes the model call apply_patch with this patch."""
    args = base64.urlsafe_b64encode(json.dumps({"input": patch}).encode()).decode()
    return f"[[sim:tool=apply_patch,tool_args={args.rstrip('=')}]]"


def test_apply_patch_creates_a_file(run):
    patch = ("*** Begin Patch\n*** Add File: notes/hello.txt\n+Hello from Lingma\n+second line\n"
             "*** End Patch\n")
    result = run(f"create the file {patch_marker(patch)}", model=PATCHING)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (result.work / "notes" / "hello.txt").read_text() == "Hello from Lingma\nsecond line\n"
    [change] = items(result, "file_change")
    assert change["status"] == "completed"
    assert [(c["path"].endswith("notes/hello.txt"), c["kind"]) for c in change["changes"]] == \
        [(True, "add")]
    assert result.last_message.startswith("Tool result: ")


def test_apply_patch_changes_a_file(run):
    patch = ("*** Begin Patch\n*** Update File: secret.txt\n@@\n-SECRET-CONTENT-42\n"
             "+SECRET-CONTENT-43\n+and a new line\n*** End Patch\n")
    result = run(f"change the file {patch_marker(patch)}", model=PATCHING)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (result.work / "secret.txt").read_text() == "SECRET-CONTENT-43\nand a new line\n"
    [change] = items(result, "file_change")
    assert change["status"] == "completed"
    assert [(c["path"].endswith("secret.txt"), c["kind"]) for c in change["changes"]] == \
        [(True, "update")]
