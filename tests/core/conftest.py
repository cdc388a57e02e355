"""Fixtures for core tests: pools of simulated Lingma instances in temporary work dirs, bare
simulator processes and their wire clients (for the simulator's own tests), scripted peers."""

import contextlib
import json
import urllib.request
from collections.abc import Iterator

import pytest

from lingma_flask.lingma.pool import LingmaPool
from lingma_flask.lingma.rpc import RpcConnection
from lingma_flask.lingma.settings import CoreSettings
from tests.core.peer import ScriptedPeer
from tests.core.simclient import Sim


def sim_state(instance) -> dict:
    """Return the simulator's /sim/state for an instance."""
    return sim_get(instance, "/sim/state")


def sim_get(instance, path) -> dict:
    """GET a simulator control URL and return its JSON."""
    url = f"http://127.0.0.1:{instance.process.http_port}{path}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = resp.read()
    return json.loads(body) if body.strip() else {}


def pool_settings(work_dir, **overrides) -> CoreSettings:
    """A simulator pool's settings in `work_dir`, with the core tests' short timeouts."""
    base = dict(bin="simulator", work_dir=str(work_dir), startup_timeout=20.0,
                rpc_timeout=5.0, first_token_timeout=10.0, idle_timeout=10.0,
                total_timeout=30.0, queue_timeout=1.0, reconnect_attempts=3)
    return CoreSettings(**{**base, **overrides})


@pytest.fixture
def make_pool(tmp_path, monkeypatch):
    """Return a factory of started simulator pools; every pool is stopped afterwards."""
    pools = []
    monkeypatch.delenv("LINGMA_SIM_FAULT", raising=False)

    def factory(wait=True, **overrides):
        pool = LingmaPool(pool_settings(tmp_path / "work", **overrides))
        pools.append(pool)
        pool.start()
        if wait:
            assert pool.wait_ready(25), pool.health()
        return pool

    yield factory
    for pool in pools:
        pool.stop()


@contextlib.contextmanager
def shared_pool_of(work_dir, **env) -> Iterator[LingmaPool]:
    """A ready pool whose simulator starts with `env` (LINGMA_SIM_*), for a module's tests
    that only ask it and read it: none logs it out, restarts it or counts its asks. One
    pool per test would cost each a simulator start."""
    pool = LingmaPool(pool_settings(work_dir))
    try:
        with pytest.MonkeyPatch.context() as patch:  # the simulator inherits it as it starts
            patch.delenv("LINGMA_SIM_FAULT", raising=False)
            for name, value in env.items():
                patch.setenv(name, value)
            pool.start()
            ready = pool.wait_ready(25)
        assert ready, pool.health()
        yield pool
    finally:
        pool.stop()


@pytest.fixture(scope="module")
def shared_pool(tmp_path_factory):
    """The module's shared pool (see `shared_pool_of`)."""
    with shared_pool_of(tmp_path_factory.mktemp("shared") / "work") as pool:
        yield pool


@pytest.fixture
def start_sim(tmp_path):
    """Return a starter of simulator processes (ready unless told not); all stopped afterwards."""
    sims = []

    def start(env=None, *, ready=True, **kwargs):
        sim = Sim(tmp_path, env, **kwargs)
        sims.append(sim)
        return sim.wait_ready() if ready else sim

    yield start
    for sim in sims:
        sim.stop()


@pytest.fixture
def client(sim):
    """A wire client of the module's `sim` fixture (a simulator the module starts once)."""
    peer = sim.client()
    yield peer
    peer.close()


@pytest.fixture
def peer():
    """A scripted Lingma peer the test drives frame by frame."""
    p = ScriptedPeer()
    yield p
    p.close()


@pytest.fixture
def conn(peer):
    """An RpcConnection to the scripted peer (64 KiB frame limit, to test the limit cheaply)."""
    c = RpcConnection(peer.port, name="test", max_frame_bytes=64 * 1024).connect()
    peer.wait_connected()
    yield c
    c.close()
