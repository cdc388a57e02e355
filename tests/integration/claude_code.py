"""Run Claude Code headless against a gateway: the pinned CLI from a cache dir, a throwaway home.

The CLI is installed by `install_claude_code.sh` into `$TEST_AGENTS_DIR` (default: the user's
cache directory, `lingma-flask/agents`) the first time a test needs it; without npm the tests
skip (and fail under CI=true). Each run gets a fresh HOME and working directory, retries and the
silent non-streaming fallback off (so a broken stream fails the run instead of being retried as
`stream: false`), and no traffic but to the gateway.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import platformdirs
import pytest

from tests.integration.tools import on_ci
from tests.integration.tools import require_tool

CLAUDE_CODE_VERSION = "2.1.332"   # keep in step with install_claude_code.sh
INSTALL_SCRIPT = Path(__file__).with_name("install_claude_code.sh")
QUIET = {   # no preflight, telemetry, updates or retries; a broken stream is an error, not a retry
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1", "DISABLE_ERROR_REPORTING": "1", "CLAUDE_CODE_MAX_RETRIES": "0",
    "CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK": "1",
}


def agents_dir() -> Path:
    """Where the pinned agent CLIs are installed."""
    given = os.environ.get("TEST_AGENTS_DIR")
    return Path(given) if given else Path(platformdirs.user_cache_dir("lingma-flask")) / "agents"


def _find() -> Path | None:
    """The platform binary (the npm wrapper is a stub until its install script has run)."""
    found = sorted((agents_dir() / "node_modules" / "@anthropic-ai").glob("claude-code-*/claude"))
    return found[0] if found else None


def claude_binary() -> Path:
    """Return the pinned Claude Code CLI, installing it first if needed; skip when impossible."""
    path = _find()
    if path is not None and _version(path) == CLAUDE_CODE_VERSION:
        return path
    require_tool("npm", "npm")
    done = subprocess.run(["sh", str(INSTALL_SCRIPT), str(agents_dir())], capture_output=True,
                          text=True, timeout=900)
    path = _find()
    if path is None or _version(path) != CLAUDE_CODE_VERSION:
        reason = f"could not install Claude Code {CLAUDE_CODE_VERSION}: {done.stderr[-2000:]}"
        if on_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return path


def _version(path: Path) -> str | None:
    done = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=60)
    words = done.stdout.split()
    return words[0] if done.returncode == 0 and words else None


@dataclasses.dataclass
class ClaudeRun:
    """What one `claude -p` printed: the exit code and its JSON result."""

    returncode: int
    result: dict
    stdout: str
    stderr: str
    work: Path


def run_claude(binary: Path, tmp: Path, base_url: str, api_key: str, prompt: str, *,
               model: str | None = None, tools: str = "Read", timeout: float = 120,
               env: dict | None = None) -> ClaudeRun:
    """Run `claude -p --output-format json` once in a fresh home and working directory."""
    home, work = tmp / "home", tmp / "work"
    home.mkdir(parents=True)
    work.mkdir()
    (work / "secret.txt").write_text("SECRET-CONTENT-42\n")
    variables = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
                 "ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_API_KEY": api_key, **QUIET}
    if model:
        variables.update(ANTHROPIC_MODEL=model, ANTHROPIC_DEFAULT_HAIKU_MODEL=model)
    done = subprocess.run(
        [str(binary), "-p", prompt, "--output-format", "json", "--max-turns", "4",
         "--no-session-persistence", "--tools", tools],
        cwd=work, env={**variables, **(env or {})}, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=timeout)
    try:
        result = json.loads(done.stdout)
    except ValueError:
        result = {}
    return ClaudeRun(done.returncode, result, done.stdout, done.stderr, work)
