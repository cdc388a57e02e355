"""`doctor --lingma` against the simulator, spawned and attached: every step's row, both ways
(classic chat/ask and ACP session/prompt), and a transcript in which planted secrets (a token,
an account name and id, an e-mail address, the home folder) do not appear."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lingma_flask.doctor.redact import Redactor
from lingma_flask.lingma.procutil import pid_alive
from tests.core.external import ExternalSim

REPO = Path(__file__).resolve().parents[2]
EMAIL = "planted.person@example.org"
ACCOUNT = {"name": "Planted Person", "id": "9876543210987654", "accountId": "9876543210987654",
           "userType": "personal_standard", "cloudType": "individual_intl"}
MACHINE_TOKEN = "mt-planted-machine-token-77"


@pytest.fixture
def home():
    folder = Path(tempfile.mkdtemp(prefix="lmd", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def answer_with_secrets(home: Path) -> dict[str, str]:
    """Simulator knobs: an answer naming the home folder and an e-mail, sent in one chunk."""
    return {"LINGMA_SIM_ANSWER": f"pong - notes in {home}/notes.txt, mail {EMAIL}",
            "LINGMA_SIM_CHUNK_CHARS": "4000"}


def doctor(home: Path, *args: str, env: dict | None = None) -> tuple[int, str, str]:
    """Run `python -m lingma_flask doctor --lingma ARGS` with HOME=home; (status, stdout, transcript)."""
    out = home.parent / f"{home.name}-transcript.txt"
    full = {k: v for k, v in os.environ.items() if not k.startswith("LINGMA_")}
    full.update({"HOME": str(home), "PYTHONPATH": str(REPO), "LINGMA_MACHINE_TOKEN": MACHINE_TOKEN,
                 "XDG_CONFIG_HOME": str(home / ".config"), **(env or {})})
    try:
        proc = subprocess.run([sys.executable, "-m", "lingma_flask", "doctor", "--lingma", "--out", str(out),
                               "--timeout", "20", *args], cwd=REPO, env=full, capture_output=True,
                              text=True, timeout=120)
        text = out.read_text(encoding="utf-8") if out.exists() else ""
    finally:
        out.unlink(missing_ok=True)
    assert f"transcript (redacted; attach it to a bug report): {out}" in proc.stdout, proc.stdout + proc.stderr
    return proc.returncode, proc.stdout, text


def rows(stdout: str) -> dict[tuple[str, str], str]:
    """(api, check) -> PASS/FAIL/SKIP from the printed table."""
    found = {}
    for line in stdout.splitlines():
        match = re.match(r"^(lingma|classic|acp)\s+(\S+)\s+(PASS|FAIL|SKIP)\s", line)
        if match:
            found[(match[1], match[2])] = match[3]
    return found


def assert_no_secrets(text: str, home: Path, *extra: str) -> None:
    for secret in ("pt-SIMULATED-TOKEN", "rt-SIMULATED-TOKEN", EMAIL, str(home), MACHINE_TOKEN, *extra):
        assert secret not in text, f"{secret!r} is in the transcript"


def test_a_spawned_simulator_is_checked_both_ways_and_stopped(home):
    work = home / "doctor-work"   # a work dir under the home folder: both appear in frames
    status, stdout, text = doctor(home, "--bin", "simulator", "--work-dir", str(work),
                                  env={"LINGMA_SIM_PROTOCOL": "acp", **answer_with_secrets(home)})
    assert status == 0, stdout
    got = rows(stdout)
    assert got.pop(("lingma", "stop")) == "PASS" and "stopped pid" in stdout
    assert set(got.values()) == {"PASS"} and len(got) == 10, got
    for method in ("initialize", "auth/status", "config/queryModels", "chat/ask", "chat/finish",
                   "session/new", "session/set_model", "session/prompt", "session/update"):
        assert f'"method":"{method}"' in text, method
    assert "C→S" in text and "S→C" in text
    assert '"token":"<redacted>"' in text and '"name":"<account>"' in text
    assert "<work-dir>" in text and "<email>" in text and "~/notes.txt" in text
    assert_no_secrets(text, home, "sim-user@example.com", "1234567890123456", str(work))
    pid = int(re.search(r"pid (\d+) listening", stdout)[1])
    assert not pid_alive(pid)   # the doctor stopped what it started


def test_an_attached_desktop_is_checked_and_left_running(home, tmp_path):
    sim = ExternalSim(tmp_path / "desktop", account=ACCOUNT,
                      env={"LINGMA_SIM_PROTOCOL": "acp", **answer_with_secrets(home)})
    try:
        status, stdout, text = doctor(home, "--attach", str(sim.port))
        assert status == 0, stdout
        got = rows(stdout)
        assert got[("lingma", "attach")] == "PASS" and got[("lingma", "stop")] == "SKIP"
        assert got[("classic", "chat/ask")] == "PASS" and got[("acp", "session/prompt")] == "PASS"
        assert "left running" in stdout
        assert '"accountId":"<account>"' in text
        assert_no_secrets(text, home, "Planted Person", "9876543210987654", str(sim.work))
        assert sim.alive()
    finally:
        sim.stop()


def test_auto_attaches_to_a_desktop_when_no_binary_is_installed(home, tmp_path):
    sim = ExternalSim(tmp_path / "desktop", account=ACCOUNT)
    try:
        sim.plant_info(home / ".config" / "QoderCN" / "SharedClientCache")
        status, stdout, text = doctor(home, env={"PATH": os.path.dirname(sys.executable)})
        assert status == 0, stdout
        assert "Qoder CN desktop at 127.0.0.1:" in stdout
        got = rows(stdout)
        assert got[("acp", "session/new")] == "SKIP"   # a classic simulator: ACP is not served
        assert "no Lingma binary" in text and "Planted Person" not in text
    finally:
        sim.stop()
    assert not sim.alive()


def test_nothing_to_check_fails_saying_where_it_looked(home):
    status, stdout, text = doctor(home, env={"PATH": os.path.dirname(sys.executable)})
    assert status == 1
    assert rows(stdout) == {("lingma", "find"): "FAIL"}
    assert "found no running Lingma or Qoder CN desktop" in stdout and "~/.lingma" in stdout
    assert "find: FAIL" in text and str(home) not in text


def test_the_doctor_cli_needs_a_gateway_or_lingma():
    from lingma_flask.__main__ import build_parser

    args = build_parser().parse_args(["doctor", "--lingma", "--attach", "auto", "--out", "t.txt"])
    assert (args.lingma, args.attach, args.out, args.base_url) == (True, "auto", "t.txt", None)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["doctor", "--lingma", "--base-url", "http://gw"])


# -- the redactor on its own ---------------------------------------------------------------

def test_the_redactor_learns_accounts_and_scrubs_keys_shapes_and_paths(tmp_path):
    home = tmp_path / "home dir"
    work = home / "wd-1234"
    redactor = Redactor(home=home, work_dir=work, secrets=["machine-secret"])
    auth = {"status": 2, "name": "Li Lei", "accountId": 42424242, "id": "42424242", "orgName": "ACME Ltd",
            "token": "pt-abcdefgh", "refreshToken": "rt-abcdefgh", "userType": "personal_standard"}
    redactor.learn({"result": auth})
    scrubbed = json.loads(redactor.message({"result": auth}))
    assert scrubbed == {"result": {"status": 2, "name": "<account>", "accountId": "<account>",
                                   "id": "<account>", "orgName": "<account>", "token": "<redacted>",
                                   "refreshToken": "<redacted>", "userType": "personal_standard"}}
    text = redactor.message({"params": {"text": "Li Lei of ACME Ltd, li@x.cn, Bearer abc.def, pt-zzzzzz99",
                                        "rootUri": work.as_uri(), "cwd": str(work / "sub"),
                                        "other": str(home / "x"), "limitTokens": 128000,
                                        "apiKey": "", "Cookie": "sid=1", "machine": "machine-secret"}})
    assert "Li Lei" not in text and "ACME" not in text and "li@x.cn" not in text and "abc.def" not in text
    assert "pt-zzzzzz99" not in text and "home dir" not in text and "machine-secret" not in text
    data = json.loads(text)["params"]
    assert data["rootUri"] == "file://<work-dir>" and data["cwd"] == "<work-dir>/sub"
    assert data["other"] == "~/x" and data["limitTokens"] == 128000 and data["apiKey"] == ""
    assert data["Cookie"] == "<redacted>"
