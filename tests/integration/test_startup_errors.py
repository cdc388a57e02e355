"""Start-up errors name the variable: a bad setting stops gunicorn at once with one line.

gunicorn is started for real (the Procfile's command) with one bad LINGMA_* value, from the
environment or from a .env file; it must exit non-zero within seconds, before any worker
boots, with exactly one output line naming the variable and no traceback.
"""

import os
import subprocess

import pytest

from tests.integration.gateway import GUNICORN
from tests.integration.gateway import ROOT

pytestmark = pytest.mark.integration

TIMEOUT = 30


def start_gunicorn(cwd, **env):
    """Run gunicorn with the shipped config in `cwd`; return (exit code, output lines)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LINGMA_")}
    environ.update(PYTHONPATH=str(ROOT), LINGMA_BIN="simulator", LINGMA_WORK_DIR=str(cwd / "work"), **env)
    done = subprocess.run(
        [str(GUNICORN), "-c", str(ROOT / "gunicorn.conf.py"), "-b", "127.0.0.1:0", "wsgi:app"],
        cwd=cwd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=TIMEOUT)
    return done.returncode, done.stdout.splitlines()


@pytest.mark.parametrize("name, value, expected", [
    ("LINGMA_WORKERS", "two", "must be a whole number of at least 1, not 'two'"),
    ("LINGMA_MAX_CONCURRENCY", "many", "must be a whole number, not 'many'"),
    ("LINGMA_REASONING", "loud", "must be one of separate, inline, off, not 'loud'"),
])
def test_a_bad_setting_stops_gunicorn_with_one_line(tmp_path, name, value, expected):
    code, lines = start_gunicorn(tmp_path, **{name: value})
    assert code != 0, lines
    assert [line for line in lines if name in line] == [f"error: {name} {expected}"], lines
    assert not any("Traceback" in line or "Booting worker" in line for line in lines), lines


def test_a_bad_setting_in_the_dotenv_file_is_named_too(tmp_path):
    (tmp_path / ".env").write_text("LINGMA_WORKER_CONNECTIONS=lots\n")
    code, lines = start_gunicorn(tmp_path)
    assert code != 0, lines
    assert lines == ["error: LINGMA_WORKER_CONNECTIONS must be a whole number of at least 1, not 'lots'"]
