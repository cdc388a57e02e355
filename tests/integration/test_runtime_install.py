"""A production install: a virtualenv with only requirements.txt serves chats under gunicorn and
holds no test tool; `pip install .` into it gives the `lingma-flask` command.

The virtualenv is built once for the module with pip's own index settings and cache. When pip
cannot reach an index at all the tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from lingma_flask.lingma import procutil
from lingma_flask.lingma.instance import wait_until
from tests.integration import gateway as gateway_module
from tests.integration.gateway import ROOT
from tests.integration.gateway import Gateway
from tests.integration.gateway import chat_text
from tests.integration.tools import on_ci

pytestmark = pytest.mark.integration
PIP = ("-m", "pip", "--disable-pip-version-check")
TEST_ONLY = {"pytest", "selenium", "schemathesis", "hypothesis", "pydantic-ai", "pydantic-ai-slim",
             "openai", "anthropic", "responses"}
# What a build of the checkout must not take along (caches, virtualenvs, earlier builds).
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "test-artifacts", "var", "build", "*.egg-info",
                                    "__pycache__", ".*_cache", ".hypothesis")
LEAKS = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")   # would lend the tests' own packages


def clean_env(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """`env` without the variables that would lend a child this process's packages."""
    return {k: v for k, v in env.items() if k not in LEAKS}


def run(*command, cwd: Path = ROOT, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run a command list (never a shell string) and capture its output."""
    return subprocess.run([str(part) for part in command], cwd=cwd, env=clean_env(),
                          capture_output=True, text=True, timeout=timeout)


def pinned(path: Path) -> list[Requirement]:
    """The requirements a requirements file names itself (its `-r` includes left out)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def require_an_index(python: Path, scratch: Path) -> None:
    """Skip (fail under CI=true) unless pip can fetch one runtime pin, quickly: no long retries."""
    probe = run(python, *PIP, "download", "--no-deps", "--timeout", "15", "--retries", "1",
                "-d", scratch, str(pinned(ROOT / "requirements.txt")[0]), timeout=120)
    if probe.returncode != 0:
        reason = "pip cannot reach a package index: " + probe.stderr.strip()[-300:]
        if on_ci():
            pytest.fail(reason + " (CI=true needs it)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh virtualenv with `pip install -r requirements.txt` in it: its bin directory."""
    home = tmp_path_factory.mktemp("runtime") / "venv"
    made = run(sys.executable, "-m", "venv", home, timeout=120)
    assert made.returncode == 0, made.stderr
    python = home / "bin" / "python"
    require_an_index(python, home.parent / "probe")
    done = run(python, *PIP, "install", "-q", "-r", ROOT / "requirements.txt")
    assert done.returncode == 0, done.stderr[-3000:]
    return home / "bin"


def installed(bin_dir: Path) -> dict[str, str]:
    """The distributions in the virtualenv: canonical name -> version."""
    listed = run(bin_dir / "python", *PIP, "list", "--format", "json", cwd=bin_dir, timeout=120)
    assert listed.returncode == 0, listed.stderr
    return {canonicalize_name(d["name"]): d["version"] for d in json.loads(listed.stdout)}


# Run by the installed interpreter: where the package is, and the files it carries.
CARRIED = """
import json, lingma_flask
from importlib.resources import files
package = files("lingma_flask")
print(json.dumps({
    "file": lingma_flask.__file__,
    "openapi.yaml": (package / "openapi.yaml").read_text(),
    "gunicorn_conf.py": (package / "gunicorn_conf.py").read_text(),
    "admin": sorted(f.name for d in ("templates", "static")
                    for f in (package / d / "admin").iterdir()),
}))
"""


def interpreter(pid: int) -> str:
    """The program a process runs (the first word of its command line)."""
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()


def serves_and_stops(gw: Gateway, text: str, python: Path) -> None:
    """Check /health and a chat, that the simulator ran on `python`, and that none outlives gw."""
    try:
        gw.start()
        assert gw.get("/health") == (200, {"status": "ok", "simulator": True})
        assert chat_text(gw.url, text) == f"You said: {text}"
        pids = gw.lingma_pids()
        assert pids and {interpreter(pid) for pid in pids} == {str(python)}
    finally:
        code = gw.stop()
    assert code == 0, "".join(gw.lines[-30:])
    assert wait_until(lambda: not any(procutil.pid_alive(pid) for pid in pids), 10)


class ServedGateway(Gateway):
    """The gateway as `lingma-flask serve` runs it: an installed copy, away from the checkout."""

    def __init__(self, program: Path, cwd: Path, work_dir: Path):
        super().__init__(work_dir)
        self.program, self.cwd = program, cwd
        self.env = clean_env(self.env)

    def command(self) -> tuple[list[str], Path]:
        """`lingma-flask serve` on a free port, run away from the checkout."""
        return [str(self.program), "serve", "-b", "127.0.0.1:0"], self.cwd


def test_the_runtime_install_holds_the_pins_and_no_test_tool(venv):
    found = installed(venv)
    assert not TEST_ONLY & found.keys()
    for req in pinned(ROOT / "requirements.txt"):
        version = found.get(canonicalize_name(req.name))
        assert version and req.specifier.contains(version), req


def test_gunicorn_from_the_runtime_install_serves_chats(venv, monkeypatch, tmp_path):
    # the Procfile's command, with this virtualenv's gunicorn instead of the tests' own
    monkeypatch.setattr(gateway_module, "GUNICORN", venv / "gunicorn")
    gw = Gateway(tmp_path / "work")
    gw.env = clean_env(gw.env)
    serves_and_stops(gw, "runtime only", venv / "python")


@pytest.fixture(scope="module")
def tool(venv, tmp_path_factory) -> Path:
    """`pip install .` of a copy of the checkout into the runtime virtualenv: a directory outside
    the checkout to run the installed `lingma-flask` in."""
    source = tmp_path_factory.mktemp("source") / "lingma-flask"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)   # links resolved, as a wheel has them
    done = run(venv / "python", *PIP, "install", "-q", source)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp_path_factory.mktemp("elsewhere")


def test_pip_install_adds_only_the_package_and_declares_the_pins(venv, tool):
    found = installed(venv)
    assert not TEST_ONLY & found.keys()
    assert found["lingma-flask"]
    shown = run(venv / "python", "-c", "import importlib.metadata as m; print('\\n'.join("
                "m.requires('lingma-flask')))", cwd=tool)
    assert shown.returncode == 0, shown.stderr
    declared = {str(Requirement(line)) for line in shown.stdout.splitlines()}
    runtime = {str(req) for req in pinned(ROOT / "requirements.txt")}
    sdks = {str(req) for req in pinned(ROOT / "requirements-dev.txt")
            if req.name in ("openai", "anthropic")}
    assert declared == runtime | {f'{sdk}; extra == "doctor"' for sdk in sdks}


def test_the_installed_package_carries_its_files(venv, tool):
    shown = run(venv / "python", "-c", CARRIED, cwd=tool)
    assert shown.returncode == 0, shown.stderr
    carried = json.loads(shown.stdout)
    assert Path(carried["file"]).is_relative_to(venv.parent)
    assert carried["openapi.yaml"] == (ROOT / "docs" / "openapi.yaml").read_text()
    assert carried["gunicorn_conf.py"] == (ROOT / "gunicorn.conf.py").read_text()
    package = ROOT / "lingma_flask"
    assert carried["admin"] == sorted(f.name for d in ("templates", "static")
                                      for f in (package / d / "admin").iterdir())


def test_the_installed_command_runs_its_subcommands(venv, tool):
    helped = run(venv / "lingma-flask", "--help", cwd=tool)
    assert helped.returncode == 0, helped.stderr
    assert all(name in helped.stdout for name in ("serve", "doctor", "simulator"))
    version = run(venv / "lingma-flask", "simulator", "version", cwd=tool)
    assert (version.returncode, version.stdout) == (0, "version: 2.11.1-sim\n"), version.stderr
    doctor = run(venv / "lingma-flask", "doctor", "--help", cwd=tool)
    assert doctor.returncode == 0 and "--base-url" in doctor.stdout, doctor.stderr


def test_lingma_flask_serve_runs_the_installed_gateway(venv, tool, tmp_path):
    serves_and_stops(ServedGateway(venv / "lingma-flask", tool, tmp_path / "work"), "installed",
                     venv / "python")
