"""Install the pinned agent CLIs and clients in the background while the other tests run.

A cold install (Codex CLI and Claude Code; the npm clients; the litellm + smolagents and the
aider venvs) takes minutes; run one after the other by the first test that needs each, it
would add them all to the suite's time. `tests/conftest.py` starts this module as a detached
process once the tests that need them are collected: it installs whatever is missing, all at
once, holding `install_lock()`. A test that needs a client takes the same lock, so it waits for
an install under way and then finds the client ready (agents.py, more_clients.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.integration import agents
from tests.integration import more_clients

ROOT = Path(__file__).resolve().parents[2]
# the running install, kept referenced: a Popen collected while its process runs warns
# (ResourceWarning), which the suite turns into an error in whatever test is running then
_STARTED: list[subprocess.Popen] = []
NEEDS = ("test_codex.py", "test_claude_code.py", "test_responses_ws.py", "test_tool_loop.py",
         "test_more_clients.py", "test_python_clients.py")


@contextlib.contextmanager
def install_lock() -> Iterator[None]:
    """Hold the one lock every install of the agent cache dir takes."""
    folder = agents.agents_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".install.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def missing() -> list[list[str]]:
    """The install commands of what is not installed yet (npm ones only when npm exists)."""
    commands = []
    clients = str(more_clients.clients_dir())
    if shutil.which("npm"):
        if not (agents.codex_ready() and agents.claude_ready()):
            commands.append(["sh", str(agents.INSTALL_SCRIPT), str(agents.agents_dir())])
        if not more_clients.npm_ready():
            commands.append(["sh", str(more_clients.INSTALL_SCRIPT), clients, "npm", sys.executable])
    if not more_clients.venv_ready("venv-py", more_clients.PYTHON_PINS):
        commands.append(["sh", str(more_clients.INSTALL_SCRIPT), clients, "python", sys.executable])
    if not more_clients.venv_ready("venv-aider", more_clients.AIDER_PINS):
        commands.append(["sh", str(more_clients.INSTALL_SCRIPT), clients, "aider", sys.executable])
    return commands


def start(nodeids: list[str]) -> None:
    """Start the background install if any collected test needs a client (never waits).
    Under pytest-xdist every worker collects the whole suite; only the first one starts it."""
    if os.environ.get("PYTEST_XDIST_WORKER", "gw0") != "gw0":
        return
    if not any(any(f"tests/integration/{name}" in nodeid for name in NEEDS) for nodeid in nodeids):
        return
    folder = agents.agents_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "prefetch.log", "w") as log:
        _STARTED.append(subprocess.Popen(
            [sys.executable, "-m", "tests.integration.prefetch"], cwd=ROOT, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True))


def main() -> int:
    """Install everything missing, in parallel, under the lock; return how many failed."""
    with install_lock():
        running = [subprocess.Popen(command) for command in missing()]
        return sum(process.wait() != 0 for process in running)


if __name__ == "__main__":
    sys.exit(main())
