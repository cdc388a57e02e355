"""Attach mode (lingma/attach.py, desktop.py, endpoint.py): LINGMA_ATTACH=auto|<port>|<socket>,
discovery of a running desktop's `.info` / `.info.json` / `qodercn.sock`, and a gateway pool
that uses a Lingma it did not start and never stops."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from lingma_flask.lingma import attach
from lingma_flask.lingma import desktop
from lingma_flask.lingma import errors
from lingma_flask.lingma.endpoint import Endpoint
from lingma_flask.lingma.endpoint import tilde
from lingma_flask.lingma.instance import FAILED
from lingma_flask.lingma.instance import READY
from lingma_flask.lingma.pool import LingmaPool
from lingma_flask.lingma.procutil import free_port
from lingma_flask.lingma.settings import CoreSettings
from lingma_flask.settings_reader import SettingError
from tests.core.external import ExternalSim
from tests.core.external import dead_pid
from tests.core.external import wait_for


@pytest.fixture
def home(monkeypatch):
    """A temporary HOME, short enough for Unix socket paths (at most 107 bytes) under it."""
    folder = Path(tempfile.mkdtemp(prefix="lmh", dir="/tmp"))
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def external(tmp_path):
    """A starter of simulators nobody but the test owns; all stopped afterwards."""
    sims = []

    def start(**kwargs):
        sim = ExternalSim(tmp_path / f"ext{len(sims)}", **kwargs)
        sims.append(sim)
        return sim

    yield start
    for sim in sims:
        sim.stop()


def cache(home: Path, app: str = "QoderCN") -> Path:
    return home / ".config" / app / "SharedClientCache"


def attached_pool(tmp_path, **settings) -> LingmaPool:
    base = dict(work_dir=str(tmp_path / "gw"), startup_timeout=20.0, rpc_timeout=5.0,
                first_token_timeout=10.0, idle_timeout=10.0, total_timeout=30.0, queue_timeout=1.0,
                reconnect_attempts=2)
    return LingmaPool(CoreSettings(**{**base, **settings}))


# -- the setting ---------------------------------------------------------------------------

@pytest.mark.parametrize("value, wanted", [
    ("auto", attach.AUTO), (" AUTO ", attach.AUTO), ("36510", 36510),
    ("/run/q/qodercn.sock", "/run/q/qodercn.sock"), ("unix:/run/q/lingma.sock", "/run/q/lingma.sock"),
])
def test_lingma_attach_reads_auto_a_port_or_a_socket_path(value, wanted):
    assert attach.target(CoreSettings(attach=value)) == wanted


def test_a_socket_path_may_start_with_the_home_folder(home):
    assert attach.target(CoreSettings(attach="~/q.sock")) == str(home / "q.sock")


@pytest.mark.parametrize("value, message", [
    ("yes", "LINGMA_ATTACH must be auto, a port number or the path of a Unix socket"),
    ("70000", "LINGMA_ATTACH=70000 is not a port"),
    ("\\\\.\\pipe\\lingma-ab12cd", "named pipes are not supported"),
])
def test_a_bad_lingma_attach_stops_the_start_naming_it(value, message):
    with pytest.raises(SettingError, match=message) as caught:
        CoreSettings.from_mapping({"ATTACH": value})
    assert caught.value.name == "LINGMA_ATTACH"


def test_lingma_socket_port_is_the_older_spelling_of_lingma_attach():
    assert attach.target(CoreSettings(socket_port=37010)) == 37010
    assert attach.target(CoreSettings(attach="37010", socket_port=37010)) == 37010
    assert attach.target(CoreSettings(socket_port=0)) is None and attach.target(CoreSettings()) is None
    with pytest.raises(SettingError, match="LINGMA_SOCKET_PORT is the older spelling"):
        CoreSettings.from_mapping({"ATTACH": "auto", "SOCKET_PORT": "37010"})
    assert attach.setting_name(CoreSettings(socket_port=1)) == "LINGMA_SOCKET_PORT"
    assert attach.setting_name(CoreSettings(attach="auto")) == "LINGMA_ATTACH"


def test_endpoints_describe_themselves_with_home_as_tilde(home):
    assert Endpoint(port=36510).describe() == "127.0.0.1:36510"
    assert Endpoint(path=str(home / "a" / "qodercn.sock")).describe() == "unix:~/a/qodercn.sock"
    assert tilde(Path("/elsewhere/x"), home) == "/elsewhere/x"


# -- discovery -----------------------------------------------------------------------------

def test_auto_finds_the_live_desktop_past_a_garbage_and_a_stale_file(home, external):
    sim = external()
    (cache(home, "QoderCN")).mkdir(parents=True)
    (cache(home, "QoderCN") / ".info.json").write_text("{not json")
    sim.plant_info(cache(home, "Lingma"), as_json=False, pid=dead_pid())
    planted = sim.plant_info(home / ".lingma")
    search = desktop.find_running(home)
    assert search.found is not None
    assert (search.found.port, search.found.pid) == (sim.port, sim.pid)
    assert search.found.source == tilde(planted, home) and search.found.runtime == "JetBrains plugin"
    notes = " | ".join(search.passed_over)
    assert "~/.config/QoderCN/SharedClientCache/.info.json: not a Lingma .info file" in notes
    assert "~/.config/Lingma/SharedClientCache/.info: stale, pid" in notes


def test_a_live_pid_whose_port_is_silent_is_passed_over(home, tmp_path):
    folder = cache(home, "Qoder")
    folder.mkdir(parents=True)
    port = free_port()
    (folder / ".info").write_text(f"{port}\n{__import__('os').getpid()}\n")
    search = desktop.find_running(home)
    assert search.found is None
    assert f"runs but port {port} does not answer" in search.summary()


def test_auto_finds_qodercn_sock_when_no_info_file_is_there(home, external):
    socket_path = cache(home) / "qodercn.sock"
    socket_path.parent.mkdir(parents=True)
    sim = external(unix=socket_path)
    found = desktop.find_running(home).found
    assert found is not None and found.path == str(socket_path) and found.port is None
    assert found.describe() == "unix:~/.config/QoderCN/SharedClientCache/qodercn.sock"
    assert sim.alive()


def test_nothing_found_says_where_it_looked(home):
    with pytest.raises(errors.LingmaNotReadyError) as caught:
        attach.resolve(CoreSettings(attach="auto"), home)
    message = caught.value.message
    assert "LINGMA_ATTACH=auto found no running Lingma or Qoder CN desktop" in message
    for folder in ("~/.config/QoderCN/SharedClientCache", "~/.config/Lingma/SharedClientCache",
                   "~/.lingma", "~/.lingma/vscode/sharedClientCache"):
        assert folder in message
    assert str(home) not in message   # the user's home folder stays out of /ready


def test_a_port_or_socket_that_does_not_answer_says_so(home):
    port = free_port()
    with pytest.raises(errors.LingmaNotReadyError, match=f"LINGMA_ATTACH={port} is set but nothing accepts"):
        attach.resolve(CoreSettings(attach=str(port)))
    with pytest.raises(errors.LingmaNotReadyError, match="nothing accepts connections on unix:~/gone.sock"):
        attach.resolve(CoreSettings(attach=str(home / "gone.sock")))


def test_desktop_locations_per_platform(home):
    def folders(system, environ=None):
        return [str(loc.folder) for loc in desktop.locations(home, environ or {}, system)]
    assert folders("darwin")[0] == str(home / "Library/Application Support/QoderCN/SharedClientCache")
    assert folders("win32", {"APPDATA": "/appdata"})[1] == "/appdata/Lingma/SharedClientCache"
    assert folders("linux", {"XDG_CONFIG_HOME": "/xdg"})[2] == "/xdg/Qoder/SharedClientCache"
    assert folders("linux")[-2:] == [str(home / ".lingma"), str(home / ".lingma/vscode/sharedClientCache")]


@pytest.mark.parametrize("text, parsed", [
    ('{"websocketPort": 36510, "pid": 14060, "ipcServerPath": "\\\\\\\\.\\\\pipe\\\\lingma-bf0f32"}',
     (36510, 14060)),
    ("36510\n14060\n\\\\.\\pipe\\lingma-bf0f32\n", (36510, 14060)),
    ('{"websocketPort": true, "pid": 1}', None), ("36510\n", None), ('["x"]', None), ("0\n5\n", None),
])
def test_info_files_are_read_as_lingma_writes_them(tmp_path, text, parsed):
    path = tmp_path / (".info.json" if text.startswith(("{", "[")) else ".info")
    path.write_text(text)
    info = desktop.read_info_file(path)
    assert (info.port, info.pid) == parsed if parsed else info is None


# -- a pool attached -----------------------------------------------------------------------

def test_a_pool_attached_over_a_unix_socket_chats_and_leaves_it_running(home, tmp_path, external):
    socket_path = home / "q.sock"
    sim = external(unix=socket_path)
    pool = attached_pool(tmp_path, attach=str(socket_path))
    pool.start()
    try:
        assert pool.wait_ready(15), pool.health()
        assert "".join(pool.ask("over a socket", None)) == "You said: over a socket"
        health = pool.health()
        assert health["attached"] == {"setting": "LINGMA_ATTACH=unix:~/q.sock", "endpoint": "unix:~/q.sock",
                                      "found_in": "LINGMA_ATTACH"}
        assert health["instances"][0]["attached"] == "unix:~/q.sock"
        assert health["instances"][0]["pid"] is None and not health["simulator"]
    finally:
        pool.stop()
    assert sim.alive()


def test_a_pool_attached_by_port_never_kills_it(tmp_path, external):
    sim = external()
    pool = attached_pool(tmp_path, attach=str(sim.port))
    pool.start()
    try:
        assert pool.wait_ready(15), pool.health()
        assert "".join(pool.ask("by port", None)) == "You said: by port"
        assert pool.health()["attached"]["endpoint"] == f"127.0.0.1:{sim.port}"
    finally:
        pool.stop()
    assert sim.alive()


def test_auto_attaches_to_the_desktop_and_a_restart_only_reconnects(home, tmp_path, external):
    sim = external()
    sim.plant_info(cache(home))
    pool = attached_pool(tmp_path, attach="auto", reconnect_backoff=0.2)
    pool.start()
    try:
        assert pool.wait_ready(15), pool.health()
        instance = pool.instances[0]
        assert instance.attached is not None and instance.attached.port == sim.port
        assert pool.health()["attached"]["found_in"] == "~/.config/QoderCN/SharedClientCache/.info.json"
        before = sim.state()["connections"]
        instance.request_restart("an operator asked")
        wait_for(lambda: instance.reconnects >= 1 or sim.state()["connections"] > before, 15, "a reconnect")
        wait_for(lambda: instance.state == READY, 15, "ready again")
        assert "".join(pool.ask("again", None)) == "You said: again"
        assert instance.restarts == 0 and sim.alive()
    finally:
        pool.stop()
    assert sim.alive()


def test_auto_with_nothing_running_is_not_ready_and_says_where_it_looked(home, tmp_path):
    pool = attached_pool(tmp_path, attach="auto", reconnect_attempts=0)
    pool.start()
    try:
        instance = pool.instances[0]
        wait_for(lambda: instance.state == FAILED, 15, "the instance to give up")
        assert "~/.config/QoderCN/SharedClientCache" in instance.last_error
        with pytest.raises(errors.LingmaNotReadyError, match="found no running Lingma"):
            pool.ask("x", None)
        assert pool.health()["attached"]["endpoint"] is None
    finally:
        pool.stop()
