"""The documented systemd units (docs/deploy/) and the /ready checker their timer runs."""

import json
import re
import runpy
import subprocess
import sys
import time

import pytest
import requests

from tests.integration.gateway import API_KEY
from tests.integration.gateway import GUNICORN
from tests.integration.gateway import ROOT
from tests.integration.gateway import Gateway
from tests.integration.stub import StubServer
from tests.integration.tools import require_tool

pytestmark = pytest.mark.integration
DEPLOY = ROOT / "docs" / "deploy"
CHECKER = DEPLOY / "lingma-ready-check"
# `verify` insists that each ExecStart program exists: these stand in for the installed paths.
STAND_INS = {"/opt/lingma-flask/.venv/bin/gunicorn": GUNICORN, "/usr/local/bin/lingma-ready-check": CHECKER}
# `systemd-analyze security --offline=true` scores, measured with systemd 252 (0 is best, 10
# worst): the gateway's unit scored 3.8 before RestrictAddressFamilies, SystemCallArchitectures,
# ProtectProc, PrivateMounts and RemoveIPC, and 2.8 with them; the ready check 8.4, then 1.5.
MAX_EXPOSURE = {"lingma-flask.service": 2.8, "lingma-ready-check.service": 1.5}
# the checks those five lines pass (systemd-analyze's names)
HARDENED = {"RestrictAddressFamilies=~AF_PACKET", "RestrictAddressFamilies=~AF_NETLINK",
            "RestrictAddressFamilies=~…", "SystemCallArchitectures=", "ProtectProc=",
            "PrivateMounts=", "RemoveIPC="}


def unit_setting(text, key):
    """The value of the last `key=` line of a unit file."""
    values = re.findall(rf"^{key}=(.*)$", text, flags=re.MULTILINE)
    assert values, f"no {key}= in the unit"
    return values[-1].strip()


def unit_section(text, name):
    """The lines of one `[name]` section of a unit file."""
    return text.split(f"[{name}]\n", 1)[1].split("\n[", 1)[0]


def installed_copy(unit, folder):
    """Write `unit` with its programs replaced by this checkout's into `folder`; return the copy."""
    text = unit.read_text()
    for documented, real in STAND_INS.items():
        text = text.replace(documented, str(real))
    copy = folder / unit.name
    copy.write_text(text)
    return copy


def test_units_pass_systemd_analyze_verify(tmp_path):
    analyze = require_tool("systemd-analyze", "systemd")
    copies = [installed_copy(unit, tmp_path)
              for unit in sorted(DEPLOY.glob("*.service")) + sorted(DEPLOY.glob("*.timer"))]
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


@pytest.mark.parametrize("name", sorted(MAX_EXPOSURE))
def test_units_are_hardened(tmp_path, name):
    analyze = require_tool("systemd-analyze", "systemd")
    copy = installed_copy(DEPLOY / name, tmp_path)
    limit = MAX_EXPOSURE[name]
    report = subprocess.run([analyze, "security", "--offline=true", f"--threshold={round(limit * 10)}", str(copy)],
                            capture_output=True, text=True, timeout=60)
    score = float(re.search(rf"Overall exposure level for {re.escape(name)}: ([0-9.]+)", report.stdout).group(1))
    assert score <= limit and report.returncode == 0, report.stdout + report.stderr
    checks = subprocess.run([analyze, "security", "--offline=true", "--json=short", str(copy)],
                            capture_output=True, text=True, timeout=60, check=True)
    unset = {check["name"] for check in json.loads(checks.stdout) if check["set"] is False}
    assert not unset & HARDENED, sorted(unset & HARDENED)


def test_a_start_that_keeps_failing_is_given_up():
    text = (DEPLOY / "lingma-flask.service").read_text()
    unit, service = unit_section(text, "Unit"), unit_section(text, "Service")
    interval = int(unit_setting(unit, "StartLimitIntervalSec").removesuffix("s"))
    burst = int(unit_setting(unit, "StartLimitBurst"))
    restart_every = int(unit_setting(service, "RestartSec").removesuffix("s"))
    assert unit_setting(service, "Restart") == "on-failure"
    # the limit is reached by restarts RestartSec apart (systemd's default, 5 in 10 s, is not)
    assert 1 < burst and (burst - 1) * restart_every < interval <= 600


# Run the command with its output's device and inode in JOURNAL_STREAM, as systemd does when
# that output is the journal (the gateway's output here is a pipe to the test).
AS_UNDER_SYSTEMD = ("import os, sys; info = os.fstat(2); "
                    "os.environ['JOURNAL_STREAM'] = f'{info.st_dev}:{info.st_ino}'; "
                    "os.execv(sys.argv[1], sys.argv[1:])")


class JournalGateway(Gateway):
    """The gateway with its output on a stream that JOURNAL_STREAM names."""

    def command(self):
        argv, cwd = super().command()
        return [sys.executable, "-c", AS_UNDER_SYSTEMD, *argv], cwd


def test_log_levels_reach_the_journal_as_priorities(tmp_path):
    assert unit_setting((DEPLOY / "lingma-flask.service").read_text(), "SyslogLevelPrefix") == "yes"
    gateway = JournalGateway(tmp_path / "work").start()
    try:
        # closed after the answer: a kept-alive connection (held by the answers kept here) would
        # hold the stop below for gunicorn's 5 s keepalive
        close = {"Connection": "close"}
        wrong = requests.get(gateway.url + "/v1/models", headers={"x-api-key": "a-wrong-key", **close}, timeout=10)
        right = requests.get(gateway.url + "/v1/models", headers={"x-api-key": API_KEY, **close}, timeout=10)
        assert (wrong.status_code, right.status_code) == (401, 200)
        deadline = time.monotonic() + 10
        while not any(right.headers["x-request-id"] in line for line in gateway.lines):
            assert time.monotonic() < deadline, "no request line"
            time.sleep(0.05)
    finally:
        gateway.stop()
    lines = [line.rstrip("\n") for line in gateway.lines if line.strip()]
    refusal = next(line for line in lines if "API key refused" in line)
    assert refusal.startswith("<4>{")  # a WARNING: `journalctl -p warning` shows it
    assert next(line for line in lines if "Listening at" in line).startswith("<6>{")  # gunicorn's
    request = next(line for line in lines if right.headers["x-request-id"] in line)
    assert request.startswith("<6>{") and json.loads(request[3:])["status"] == 200
    records = [line for line in lines if '{"time": ' in line]  # every logged line (not a stray print)
    assert len(records) > 3 and all(re.match(r"<[0-7]>\{", line) for line in records), records
