"""Attach mode through the real gateway (gunicorn, gevent worker): LINGMA_ATTACH=auto finds a
desktop started outside the gateway (and says where it looked while there is none), a Unix
socket is dialled under gevent, /health, /ready and the status page say "attached" and never
a token, and the attached Lingma outlives the gateway."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.core.external import ExternalSim
from tests.integration.gateway import Gateway
from tests.integration.gateway import chat_text

TOKEN = "mt-planted-machine-token-123"


@pytest.fixture
def home():
    """A HOME short enough for a Unix socket path under it."""
    folder = Path(tempfile.mkdtemp(prefix="lmg", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def page(url: str) -> str:
    with urllib.request.urlopen(url + "/admin/", timeout=10) as resp:
        return resp.read().decode()


def gateway(tmp_path: Path, home: Path, attach: str) -> Gateway:
    return Gateway(tmp_path / "work", LINGMA_ATTACH=attach, LINGMA_MACHINE_TOKEN=TOKEN, HOME=str(home),
                   XDG_CONFIG_HOME=str(home / ".config"))


def said_why(ready: dict) -> bool:
    return bool(ready.get("instances") and ready["instances"][0].get("message"))


def poll(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def test_auto_says_where_it_looked_then_attaches_and_the_desktop_outlives_the_gateway(tmp_path, home):
    sim = ExternalSim(tmp_path / "desktop")
    gw = gateway(tmp_path, home, "auto")
    try:
        gw.start_process()
        code, ready = poll(lambda: r if said_why((r := gw.get("/ready"))[1]) else None, 30,
                           "/ready to say why it is not ready")
        assert code == 503 and ready["lingma"] == "attached" and ready["attach"] == "LINGMA_ATTACH=auto"
        message = ready["instances"][0]["message"]
        assert "found no running Lingma or Qoder CN desktop" in message
        assert "~/.config/QoderCN/SharedClientCache" in message and str(home) not in message
        assert any("found no running Lingma" in line.get("message", "") for line in gw.json_lines())

        sim.plant_info(home / ".config" / "QoderCN" / "SharedClientCache")   # the desktop starts
        poll(gw.ready, 60, "the gateway to find the desktop")
        assert chat_text(gw.url, "through the desktop") == "You said: through the desktop"
        code, health = gw.get("/health")
        assert code == 200 and health["lingma"] == "attached"
        assert health["endpoint"] == f"127.0.0.1:{sim.port}"
        code, ready = gw.get("/ready")
        assert code == 200 and ready["endpoint"] == health["endpoint"]
        admin = gw.health()[1]
        assert admin["attached"]["found_in"] == "~/.config/QoderCN/SharedClientCache/.info.json"
        assert admin["instances"][0]["pid"] is None   # no process of the gateway's own
        html = page(gw.url)
        assert f"Attached: 127.0.0.1:{sim.port}" in html
        for shown in (json.dumps(health), json.dumps(ready), json.dumps(admin), html):
            assert TOKEN not in shown and "pt-SIMULATED" not in shown
        asks = len(sim.state()["asks"])
    finally:
        code = gw.stop()
    try:
        assert code == 0, "".join(gw.lines[-30:])
        assert sim.alive(), "the gateway stopped a Lingma it did not start"
        assert len(sim.state()["asks"]) == asks   # and it still answers its control port
    finally:
        sim.stop()


def test_a_unix_socket_is_dialled_under_gevent_and_left_running(tmp_path, home):
    socket_path = home / "qodercn.sock"
    sim = ExternalSim(tmp_path / "desktop", unix=socket_path)
    gw = gateway(tmp_path, home, str(socket_path))
    try:
        gw.start()
        assert chat_text(gw.url, "over the socket") == "You said: over the socket"
        code, health = gw.get("/health")
        assert (code, health["lingma"], health["endpoint"]) == (200, "attached", "unix:~/qodercn.sock")
    finally:
        code = gw.stop()
    try:
        assert code == 0, "".join(gw.lines[-30:])
        assert sim.alive() and socket_path.exists()
    finally:
        sim.stop()
