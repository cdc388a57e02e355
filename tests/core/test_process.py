"""Tests for lingma/discovery, workdir, login seeding, procutil, process: .info, spawn, stop, parent death, attach.

Spawning tests run `fakes/fake_lingma.py` (and the real simulator when it is present). Liveness
is checked through /proc so a zombie counts as dead, and every wait polls a condition against a
deadline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from lingma_flask.lingma import discovery
from lingma_flask.lingma import login
from lingma_flask.lingma import process
from lingma_flask.lingma import procutil
from lingma_flask.lingma import workdir
from lingma_flask.lingma.discovery import LingmaCommand
from lingma_flask.lingma.errors import LingmaConnectionError
from lingma_flask.lingma.errors import LingmaNotReadyError
from lingma_flask.lingma.process import LingmaProcess
from lingma_flask.lingma.settings import CoreSettings

FAKES = Path(__file__).resolve().parent / "fakes"
FAKE = FAKES / "fake_lingma.py"
REPO = Path(__file__).resolve().parents[2]
LINUX = sys.platform.startswith("linux")

linux_only = pytest.mark.skipif(not LINUX, reason="uses /proc and PR_SET_PDEATHSIG")


# --------------------------------------------------------------------------- helpers

def running(pid: int) -> bool:
    """True if `pid` exists and is not a zombie (read from /proc, independent of procutil.py)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return data[data.rfind(b")") + 2:].split()[0] not in (b"Z", b"X")


def wait_for(condition, timeout: float = 5.0, interval: float = 0.05) -> bool:
    """Poll `condition` until it is true or `timeout` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return bool(condition())
        time.sleep(interval)


def fake_command(mode: str = "normal") -> LingmaCommand:
    return LingmaCommand((sys.executable, str(FAKE), "--mode", mode), str(FAKES), False, f"fake lingma ({mode})")


def make_executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def spawned(tmp_path):
    """Create LingmaProcess objects that are stopped after the test whatever happens."""
    made = []

    def make(mode="normal", *, timeout=10.0, env=None, command=None, work_dir=None):
        proc = LingmaProcess(command or fake_command(mode), work_dir or tmp_path / f"work-{len(made)}",
                             startup_timeout=timeout, env=env)
        made.append(proc)
        return proc

    yield make
    for proc in made:
        proc.stop(timeout=2.0)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fake, empty HOME and a PATH without any Lingma."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    return path


# --------------------------------------------------------------------------- find_binary

def test_simulator_command_runs_the_package_module():
    command = discovery.find_binary(CoreSettings(bin="simulator"))
    assert command.simulator
    assert command.argv_prefix == (sys.executable, "-m", "lingma_flask.simulator")
    assert (Path(command.cwd) / "lingma_flask" / "lingma").is_dir()


def test_explicit_bin_wins_over_installed_versions(home, tmp_path):
    make_executable(home / ".lingma" / "bin" / "2.11.1" / discovery.platform_dir() / "Lingma")
    mine = make_executable(tmp_path / "custom" / "Lingma")
    command = discovery.find_binary(CoreSettings(bin=str(mine)))
    assert command.argv_prefix == (str(mine.resolve()),)
    assert command.cwd == str(mine.resolve().parent)
    assert not command.simulator


def test_missing_explicit_bin_is_a_clear_error(home, tmp_path):
    with pytest.raises(LingmaNotReadyError, match="LINGMA_BIN=.*does not exist"):
        discovery.find_binary(CoreSettings(bin=str(tmp_path / "nope" / "Lingma")))


def test_non_executable_explicit_bin_is_a_clear_error(home, tmp_path):
    plain = tmp_path / "Lingma"
    plain.write_text("not a program")
    with pytest.raises(LingmaNotReadyError, match="is not an executable file"):
        discovery.find_binary(CoreSettings(bin=str(plain)))


def test_newest_version_is_chosen_by_numeric_order(home):
    plat = discovery.platform_dir()
    root = home / ".lingma" / "bin"
    for version in ("2.9.0", "2.11.1", "2.10.7"):
        make_executable(root / version / plat / "Lingma")
    (root / "9.9.9" / plat).mkdir(parents=True)           # newer, but no binary
    make_executable(root / "latest" / plat / "Lingma")   # not a version
    (root / "config.json").write_text('{"cosy.core.version": "2.11.1"}')
    command = discovery.find_binary(CoreSettings())
    assert command.argv_prefix == (str(root / "2.11.1" / plat / "Lingma"),)
    assert command.cwd == str(root / "2.11.1" / plat)
    assert "2.11.1" in command.description


def test_path_is_the_last_resort(home, tmp_path, monkeypatch):
    on_path = make_executable(tmp_path / "bin" / "Lingma")
    monkeypatch.setenv("PATH", str(on_path.parent))
    command = discovery.find_binary(CoreSettings())
    assert command.argv_prefix == (str(on_path.resolve()),)


def test_nothing_found_falls_back_to_the_simulator(home):
    assert discovery.find_binary(CoreSettings()) is None
    assert discovery.resolve_command(CoreSettings()).simulator


@pytest.mark.parametrize("machine, system, expected", [
    ("x86_64", "linux", "x86_64_linux"),
    ("aarch64", "linux", "aarch64_linux"),
    ("arm64", "darwin", "aarch64_darwin"),
    ("x86_64", "darwin", "x86_64_darwin"),
    ("AMD64", "win32", "x86_64_windows"),
    ("riscv64", "linux", None),
])
def test_platform_dir(machine, system, expected):
    assert discovery.platform_dir(machine, system) == expected


# --------------------------------------------------------------------------- read_info

@pytest.mark.parametrize("text, expected", [
    ("36510\n14060\n", (36510, 14060)),
    ("36510\r\n14060", (36510, 14060)),
    ("36510\n14060\n\\\\.\\pipe\\lingma-bf0f32\n", (36510, 14060)),
    ("\n 36510 \n\n14060\n", (36510, 14060)),
    ("36510\n", None),
    ("", None),
    ("hello\nworld\n", None),
    ("99999\n14060\n", None),
    ("36510\n0\n", None),
])
def test_read_info_text(tmp_path, text, expected):
    (tmp_path / ".info").write_text(text)
    assert workdir.read_info(tmp_path) == expected


@pytest.mark.parametrize("text, expected", [
    ('{"websocketPort":36510,"pid":14060,"ipcServerPath":"\\\\\\\\.\\\\pipe\\\\x","isDev":false}', (36510, 14060)),
    ('{"websocketPort":"36510","pid":"14060"}', (36510, 14060)),
    ('{"websocketPort":36510}', None),
    ('{"websocketPort":true,"pid":1}', None),
    ("[1, 2]", None),
    ('{"websocketPort":', None),
])
def test_read_info_json(tmp_path, text, expected):
    (tmp_path / ".info.json").write_text(text)
    assert workdir.read_info(tmp_path) == expected


def test_read_info_missing(tmp_path):
    assert workdir.read_info(tmp_path) is None
    assert workdir.read_info(tmp_path / "absent") is None


# --------------------------------------------------------------------------- seed_login

def write_login(cache: Path, machine_id="id-1", user="user-1") -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "id").write_text(machine_id)
    (cache / "user").write_text(user)
    return cache


def test_seed_login_copies_id_and_user_into_a_new_work_dir(tmp_path):
    source = write_login(tmp_path / "ide" / "cache")
    work = tmp_path / "work"
    assert login.seed_login(work, str(source))
    assert (work / "cache" / "id").read_text() == "id-1"
    assert (work / "cache" / "user").read_text() == "user-1"
    assert sorted(p.name for p in (work / "cache").iterdir()) == ["id", "user"]


def test_seed_login_never_overwrites_a_user(tmp_path):
    source = write_login(tmp_path / "ide" / "cache")
    work = tmp_path / "work"
    write_login(work / "cache", "mine", "me")
    assert not login.seed_login(work, source)
    assert (work / "cache" / "id").read_text() == "mine"
    assert (work / "cache" / "user").read_text() == "me"


def test_seed_login_without_a_usable_source(tmp_path, home):
    work = tmp_path / "work"
    assert not login.seed_login(work, tmp_path / "missing")
    half = tmp_path / "half"
    half.mkdir()
    (half / "id").write_text("id-only")
    assert not login.seed_login(work, half)
    assert not login.seed_login(work, None)        # no ~/.lingma/cache in the fake HOME
    assert not (work / "cache" / "user").exists()


def test_seed_login_defaults_to_the_ide_login_and_accepts_a_work_dir(tmp_path, home):
    write_login(home / ".lingma" / "cache", "ide-id", "ide-user")
    assert login.seed_login(tmp_path / "a", None)
    assert (tmp_path / "a" / "cache" / "user").read_text() == "ide-user"
    assert login.seed_login(tmp_path / "b", home / ".lingma")
    assert (tmp_path / "b" / "cache" / "id").read_text() == "ide-id"


# --------------------------------------------------------------------------- ports

def test_free_port_and_port_open():
    port = procutil.free_port()
    assert not procutil.port_open(port, timeout=0.5)
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen(1)
        assert procutil.port_open(port, timeout=0.5)


@linux_only
def test_pid_alive_counts_zombies_as_dead():
    assert procutil.pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        assert wait_for(lambda: not procutil.pid_alive(child.pid))    # exited, not yet reaped
    finally:
        child.wait()
    assert not procutil.pid_alive(child.pid)


# --------------------------------------------------------------------------- spawn and stop

def test_start_and_stop(spawned):
    proc = spawned()
    port = proc.start()
    assert port == proc.port and procutil.port_open(port)
    assert proc.alive() and running(proc.pid)
    assert proc.info_pid == proc.pid
    assert proc.http_port and proc.http_port != port
    assert os.getpgid(proc.pid) == proc.pid            # its own process group
    assert f"pid {proc.pid} cwd {FAKES}" in proc.log_path.read_text()
    proc.stop()
    assert not proc.alive() and not running(proc.pid)
    assert proc.returncode == -signal.SIGTERM          # reaped
    proc.stop()                                        # idempotent


def test_stale_info_is_deleted_before_spawn(spawned, tmp_path):
    work = tmp_path / "stale"
    work.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale_port = procutil.free_port()
    (work / ".info").write_text(f"{stale_port}\n{dead.pid}\n")
    (work / ".info.json").write_text(json.dumps({"websocketPort": stale_port, "pid": dead.pid}))
    proc = spawned(work_dir=work)
    port = proc.start()
    assert port != stale_port
    assert workdir.read_info(work) == (port, proc.pid)
    assert not (work / ".info.json").exists()


def test_info_json_form(spawned):
    proc = spawned("info-json")
    assert proc.start() == workdir.read_info(proc.work_dir)[0]


def test_info_before_port_waits_for_tcp(spawned):
    proc = spawned("info-early", env={"FAKE_LINGMA_DELAY": "0.7"})
    port = proc.start()
    assert procutil.port_open(port)


def test_slow_start_within_the_timeout(spawned):
    proc = spawned(env={"FAKE_LINGMA_DELAY": "0.5"}, timeout=10)
    assert procutil.port_open(proc.start())


def test_timeout_without_info_leaves_nothing_running(spawned):
    proc = spawned("silent", timeout=1.0)
    began = time.monotonic()
    with pytest.raises(LingmaNotReadyError, match=r"wrote no \.info .* within 1 s") as caught:
        proc.start()
    assert time.monotonic() - began < 5
    assert "fake lingma silent" in caught.value.message      # the log tail
    assert not running(proc.pid) and proc.returncode is not None


def test_timeout_with_info_but_no_listener(spawned):
    proc = spawned("info-early", timeout=1.0, env={"FAKE_LINGMA_NEVER_LISTEN": "1"})
    with pytest.raises(LingmaNotReadyError, match="nothing accepted connections on 127.0.0.1"):
        proc.start()
    assert not running(proc.pid)


def test_process_dying_at_start_fails_fast_with_its_exit_code(spawned):
    proc = spawned("crash", timeout=20)
    began = time.monotonic()
    with pytest.raises(LingmaConnectionError, match="exited during startup with code 3") as caught:
        proc.start()
    assert time.monotonic() - began < 5
    assert "fatal: cannot open cache/db/local.db" in caught.value.message
    assert proc.returncode == 3


def test_unrunnable_binary_is_not_ready(spawned, tmp_path):
    command = LingmaCommand((str(tmp_path / "gone" / "Lingma"),), str(tmp_path), False, "gone")
    with pytest.raises(LingmaNotReadyError, match="could not run gone"):
        spawned(command=command).start()


def test_stop_kills_the_whole_group_including_a_grandchild(spawned):
    proc = spawned("grandchild")
    proc.start()
    grandchild = int((proc.work_dir / "grandchild.pid").read_text())
    assert running(grandchild) and os.getpgid(grandchild) == proc.pid
    proc.stop()
    assert not running(proc.pid) and not running(grandchild)
    assert proc.returncode is not None


@linux_only
def test_stop_kills_a_different_info_pid_that_is_ours(spawned):
    proc = spawned("detached")
    proc.start()
    daemon = proc.info_pid
    try:
        assert daemon != proc.pid and running(daemon) and os.getpgid(daemon) != proc.pid
        proc.stop()
        assert wait_for(lambda: not running(daemon), timeout=2)
    finally:
        if running(daemon):
            os.kill(daemon, signal.SIGKILL)


def test_relative_work_dir_is_made_absolute(spawned, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    proc = spawned(work_dir=Path("relative"))
    proc.start()
    assert proc.work_dir == tmp_path / "relative"
    assert workdir.read_info(tmp_path / "relative") == (proc.port, proc.pid)


def test_stop_escalates_to_sigkill(spawned):
    proc = spawned("stubborn")
    proc.start()
    began = time.monotonic()
    proc.stop(timeout=0.5)
    assert time.monotonic() - began < 4
    assert proc.returncode == -signal.SIGKILL


def test_stop_from_another_thread_aborts_a_start(spawned):
    proc = spawned("silent", timeout=30)
    errors = []

    def run():
        try:
            proc.start()
        except LingmaNotReadyError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    assert wait_for(lambda: proc.pid is not None)
    proc.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert errors and "stopped" in errors[0].message
    assert not running(proc.pid)


def test_start_is_single_use(spawned):
    proc = spawned()
    proc.start()
    with pytest.raises(RuntimeError, match="starts only once"):
        proc.start()


def test_stop_all_is_the_backstop(spawned):
    first, second = spawned(), spawned()
    first.start(), second.start()
    process.stop_all()
    assert not running(first.pid) and not running(second.pid)


# --------------------------------------------------------------------------- parent death

@linux_only
@pytest.mark.parametrize("runner", ["plain", "thread", "gevent",
                                    "simulator"])
def test_sigkilled_parent_leaves_no_lingma(tmp_path, runner):
    pid_file = tmp_path / "child.pid"
    argv = [sys.executable, str(FAKES / "spawn_and_hold.py"), str(tmp_path / "work"), str(pid_file)]
    if runner in ("thread", "simulator"):
        argv.append("--" + runner)
    if runner == "gevent":
        argv[1:1] = ["-m", "gevent.monkey"]
    with open(tmp_path / "helper.log", "wb") as out:
        helper = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=str(REPO))
    try:
        assert wait_for(pid_file.exists, timeout=20), (tmp_path / "helper.log").read_text()
        child, port = map(int, pid_file.read_text().split())
        assert running(child) and procutil.port_open(port)
    finally:
        helper.kill()
        helper.wait()
    assert wait_for(lambda: not running(child), timeout=5), "Lingma outlived its SIGKILLed parent"


# --------------------------------------------------------------------------- attach mode

def test_attach_to_an_open_port_never_kills_it(spawned):
    external = spawned()
    port = external.start()
    assert process.attach_port(CoreSettings(socket_port=port)) == port
    attached = process.AttachedLingma(port)
    assert attached.start() == port and attached.alive()
    attached.stop()
    assert external.alive() and procutil.port_open(port)


def test_attach_to_a_closed_port_says_so():
    port = procutil.free_port()
    with pytest.raises(LingmaNotReadyError, match=f"LINGMA_SOCKET_PORT={port} is set but nothing"):
        process.attach_port(CoreSettings(socket_port=port))
    with pytest.raises(LingmaNotReadyError, match="LINGMA_SOCKET_PORT"):
        process.AttachedLingma(port).start()


def test_attach_unset_is_none():
    assert process.attach_port(CoreSettings()) is None


# --------------------------------------------------------------------------- the real simulator

def sim_state(http_port: int) -> dict | None:
    """GET /sim/state, or None while the simulator's HTTP side is not up."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/sim/state", timeout=2) as resp:
            return json.loads(resp.read())
    except OSError:
        return None


@pytest.mark.parametrize("env", [
    {},
    {"LINGMA_SIM_START_DELAY": "0.5", "LINGMA_SIM_INFO_EARLY": "1", "LINGMA_SIM_INFO_THIRD_LINE": "1"},
    {"LINGMA_SIM_INFO_JSON": "1", "LINGMA_SIM_INFO_DELAY": "0.3"},
], ids=["plain", "info-early-slow", "info-json"])
def test_simulator_spawn_and_stop(spawned, env):
    proc = spawned(command=discovery.simulator_command(), env=env, timeout=15)
    port = proc.start()
    assert procutil.port_open(port) and workdir.read_info(proc.work_dir) == (port, proc.pid)
    assert wait_for(lambda: sim_state(proc.http_port) is not None)
    assert sim_state(proc.http_port)["pid"] == proc.pid
    proc.stop()
    assert not running(proc.pid) and proc.returncode is not None
    assert not procutil.port_open(port)


def test_simulator_through_find_binary(spawned, tmp_path):
    work = tmp_path / "sim"
    command = discovery.find_binary(CoreSettings(bin="simulator"))
    proc = spawned(command=command, work_dir=work, timeout=15)
    proc.start()
    assert proc.alive()
    proc.stop()
    assert not running(proc.pid)
