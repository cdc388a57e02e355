"""Run the agent CLIs headless against a gateway: pinned CLIs from a cache dir, throwaway homes.

Codex CLI and Claude Code are installed by `install_agents.sh` into `$TEST_AGENTS_DIR`
(default: the user's cache directory, `lingma-flask/agents`) the first time a test needs one;
without npm the tests skip (and fail under CI=true). Each run gets a fresh home and working
directory with retries off, so a failure shows at once and every request is one model turn:
Codex through a CODEX_HOME config, Claude Code through its environment (also with the silent
non-streaming fallback off, so a broken stream fails the run instead of being re-sent as
`stream: false`, and no traffic but to the gateway).
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

CODEX_VERSION = "0.171.0"   # keep in step with install_agents.sh
CLAUDE_CODE_VERSION = "2.1.332"   # keep in step with install_agents.sh
INSTALL_SCRIPT = Path(__file__).with_name("install_agents.sh")
CONFIG = """\
model = "{model}"
model_provider = "gw"
approval_policy = "never"
sandbox_mode = "danger-full-access"
check_for_update_on_startup = false
web_search = "disabled"

[model_providers.gw]
name = "gateway"
base_url = "{base_url}"
wire_api = "responses"
env_key = "GW_API_KEY"
request_max_retries = 0
stream_max_retries = 0
stream_idle_timeout_ms = {idle_ms}

[features]
plugins = false
unbounded_connection_retries = false
goals = false
view_image = false

[agents]
enabled = false

[analytics]
enabled = false

[feedback]
enabled = false
"""


def agents_dir() -> Path:
    """Where the pinned agent CLIs are installed."""
    given = os.environ.get("TEST_AGENTS_DIR")
    return Path(given) if given else Path(platformdirs.user_cache_dir("lingma-flask")) / "agents"


def install(ready) -> str:
    """Run install_agents.sh unless `ready()` once the install lock is held (the background
    install, tests/integration/prefetch.py, may have done it); return its stderr. npm is
    needed: skip, or fail under CI, without it."""
    from tests.integration.prefetch import install_lock

    require_tool("npm", "npm")
    with install_lock():
        if ready():
            return ""
        done = subprocess.run(["sh", str(INSTALL_SCRIPT), str(agents_dir())], capture_output=True,
                              text=True, timeout=900)
    return done.stderr


def give_up(reason: str) -> None:
    """Skip the test, or fail it under CI=true, where every agent CLI must install."""
    if on_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def codex_binary() -> Path:
    """Return the pinned Codex CLI, installing it first if needed; skip when impossible."""
    path = agents_dir() / "node_modules" / ".bin" / "codex"
    if codex_ready():
        return path
    stderr = install(codex_ready)
    if not codex_ready():
        give_up(f"could not install Codex CLI {CODEX_VERSION}: {stderr[-2000:]}")
    return path


def codex_ready() -> bool:
    """Whether the pinned Codex CLI is installed."""
    return _version(agents_dir() / "node_modules" / ".bin" / "codex") == CODEX_VERSION


def _version(path: Path) -> str | None:
    if not path.exists():
        return None
    done = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=60)
    return done.stdout.split()[-1] if done.returncode == 0 and done.stdout.split() else None


@dataclasses.dataclass
class CodexRun:
    """What one `codex exec` printed and left behind."""

    returncode: int
    stdout: str
    stderr: str
    last_message: str
    events: list[str]
    work: Path


def with_websockets(config: str) -> str:
    """A Codex config whose provider speaks the Responses WebSocket (`responses_websockets`)."""
    return (config.replace("stream_idle_timeout_ms", "supports_websockets = true\nstream_idle_timeout_ms")
            .replace("[features]\n", "[features]\nresponses_websockets = true\n"))


def run_codex(binary: Path, tmp: Path, base_url: str, api_key: str, prompt: str, *,
              model: str = "auto", idle_ms: int = 30000, timeout: float = 120,
              websockets: bool = False) -> CodexRun:
    """Run `codex exec --json` once in a fresh home and working directory (over the Responses
    WebSocket with `websockets`, falling back to HTTP as Codex does)."""
    home, work = tmp / "home", tmp / "work"
    (home / ".codex").mkdir(parents=True)
    work.mkdir()
    config = CONFIG.format(model=model, base_url=base_url, idle_ms=idle_ms)
    (home / ".codex" / "config.toml").write_text(with_websockets(config) if websockets else config)
    (work / "secret.txt").write_text("SECRET-CONTENT-42\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "CODEX_HOME": str(home / ".codex"), "GW_API_KEY": api_key}
    last = tmp / "last_message.txt"
    done = subprocess.run(
        [str(binary), "exec", "--skip-git-repo-check", "--ephemeral", "--strict-config", "--json",
         "-o", str(last), prompt],
        cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=timeout)
    message = last.read_text() if last.exists() else ""
    return CodexRun(done.returncode, done.stdout, done.stderr, message,
                    done.stdout.splitlines(), work)


# -- Claude Code ---------------------------------------------------------------------------

CLAUDE_QUIET = {   # no preflight, telemetry, updates or retries; a broken stream is an error
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1", "DISABLE_ERROR_REPORTING": "1", "CLAUDE_CODE_MAX_RETRIES": "0",
    "CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK": "1",
}


def _claude_path() -> Path | None:
    """The platform binary (the npm wrapper is a stub until its install script has run)."""
    found = sorted((agents_dir() / "node_modules" / "@anthropic-ai").glob("claude-code-*/claude"))
    return found[0] if found else None


def _claude_version(path: Path | None) -> str | None:
    if path is None:
        return None
    done = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=60)
    words = done.stdout.split()   # "2.1.332 (Claude Code)"
    return words[0] if done.returncode == 0 and words else None


def claude_ready() -> bool:
    """Whether the pinned Claude Code CLI is installed."""
    return _claude_version(_claude_path()) == CLAUDE_CODE_VERSION


def claude_binary() -> Path:
    """Return the pinned Claude Code CLI, installing it first if needed; skip when impossible."""
    if claude_ready():
        return _claude_path()
    stderr = install(claude_ready)
    if not claude_ready():
        give_up(f"could not install Claude Code {CLAUDE_CODE_VERSION}: {stderr[-2000:]}")
    return _claude_path()


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
                 "ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_API_KEY": api_key, **CLAUDE_QUIET}
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
