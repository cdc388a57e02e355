"""Run Codex CLI headless against a gateway: the pinned CLI from a cache dir, a throwaway home.

The CLI is installed by `install_agents.sh` into `$TEST_AGENTS_DIR` (default: the user's cache
directory, `lingma-flask/agents`) the first time a test needs it; without npm the tests skip
(and fail under CI=true). Each run gets a fresh CODEX_HOME whose config points Codex at the
gateway with retries off, so a failure shows at once and every request is one model turn.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import platformdirs
import pytest

from tests.integration.tools import on_ci
from tests.integration.tools import require_tool

CODEX_VERSION = "0.171.0"   # keep in step with install_agents.sh
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


def codex_binary() -> Path:
    """Return the pinned Codex CLI, installing it first if needed; skip when impossible."""
    path = agents_dir() / "node_modules" / ".bin" / "codex"
    if _version(path) == CODEX_VERSION:
        return path
    require_tool("npm", "npm")
    done = subprocess.run(["sh", str(INSTALL_SCRIPT), str(agents_dir())], capture_output=True,
                          text=True, timeout=900)
    if _version(path) != CODEX_VERSION:
        reason = f"could not install Codex CLI {CODEX_VERSION}: {done.stderr[-2000:]}"
        if on_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return path


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


def run_codex(binary: Path, tmp: Path, base_url: str, api_key: str, prompt: str, *,
              model: str = "auto", idle_ms: int = 30000, timeout: float = 120) -> CodexRun:
    """Run `codex exec --json` once in a fresh home and working directory."""
    home, work = tmp / "home", tmp / "work"
    (home / ".codex").mkdir(parents=True)
    work.mkdir()
    (home / ".codex" / "config.toml").write_text(
        CONFIG.format(model=model, base_url=base_url, idle_ms=idle_ms))
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
