"""The documented systemd units (docs/deploy/) and the /ready checker their timer runs."""

import re
import runpy
import subprocess

import pytest

from tests.integration.gateway import GUNICORN
from tests.integration.gateway import ROOT
from tests.integration.stub import StubServer
from tests.integration.tools import require_tool

pytestmark = pytest.mark.integration
DEPLOY = ROOT / "docs" / "deploy"
CHECKER = DEPLOY / "lingma-ready-check"
# `verify` insists that each ExecStart program exists: these stand in for the installed paths.
STAND_INS = {"/opt/lingma-flask/.venv/bin/gunicorn": GUNICORN, "/usr/local/bin/lingma-ready-check": CHECKER}


def unit_setting(text, key):
    """The value of the last `key=` line of a unit file."""
    values = re.findall(rf"^{key}=(.*)$", text, flags=re.MULTILINE)
    assert values, f"no {key}= in the unit"
    return values[-1].strip()


def test_units_pass_systemd_analyze_verify(tmp_path):
    analyze = require_tool("systemd-analyze", "systemd")
    copies = []
    for unit in sorted(DEPLOY.glob("*.service")) + sorted(DEPLOY.glob("*.timer")):
        text = unit.read_text()
        for documented, real in STAND_INS.items():
            text = text.replace(documented, str(real))
        copies.append(tmp_path / unit.name)
        copies[-1].write_text(text)
    units = {"lingma-flask.service", "lingma-ready-check.service", "lingma-ready-check.timer"}
    assert {c.name for c in copies} >= units
    result = subprocess.run([analyze, "verify", *map(str, copies)], capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    about_ours = [line for line in output.splitlines() if any(c.name in line for c in copies)]
    assert result.returncode == 0 and not about_ours, output  # unknown keys are only warnings


def test_service_runs_the_procfile_command_and_outlasts_graceful_timeout():
    text = (DEPLOY / "lingma-flask.service").read_text()
    procfile = (ROOT / "Procfile").read_text().split("web:", 1)[1].strip()
    assert unit_setting(text, "ExecStart") == "/opt/lingma-flask/.venv/bin/" + procfile
    graceful = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["graceful_timeout"]
    assert int(unit_setting(text, "TimeoutStopSec").removesuffix("s")) > graceful
    assert unit_setting(text, "KillMode") == "mixed" and unit_setting(text, "KillSignal") == "SIGTERM"


def test_ready_check_reports_each_gateway():
    require_tool("curl", "curl")
    ready = StubServer(200, b'{"ready": true}').start()
    sick = StubServer(503, b'{"ready": false, "instances": [{"reason": "not logged in"}]}').start()
    try:
        good = subprocess.run([str(CHECKER), ready.url], capture_output=True, text=True, timeout=30)
        bad = subprocess.run([str(CHECKER), sick.url + "/", ready.url], capture_output=True, text=True, timeout=30)
        usage = subprocess.run([str(CHECKER)], capture_output=True, text=True, timeout=30)
    finally:
        ready.stop()
        sick.stop()
    assert good.returncode == 0 and good.stdout == f"ready: {ready.url}\n"
    assert bad.returncode == 1
    assert bad.stdout.splitlines()[0].startswith(f"NOT READY: {sick.url}/: ") and "not logged in" in bad.stdout
    assert bad.stdout.splitlines()[1] == f"ready: {ready.url}"
    assert [r["path"] for r in sick.requests] == ["/ready"]
    assert usage.returncode == 2 and "usage" in usage.stderr
