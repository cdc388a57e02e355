"""The pipeline's door to the core (pipeline/ports.py): the real pool and streams and the test
fakes all implement it, with the same members and the same parameters, so the fakes the API
tests run against cannot drift from what the pipeline gets in production."""

from __future__ import annotations

import inspect

import pytest

from lingma_flask.lingma import stream as core_stream
from lingma_flask.lingma.pool import LingmaPool
from lingma_flask.lingma.settings import CoreSettings
from lingma_flask.pipeline import ports

from .fakes import FakePool
from .fakes import FakeStream

HI = [{"role": "user", "content": "hi"}]


def methods(protocol: type) -> list[str]:
    """The protocol's methods (its properties are data members, checked by isinstance)."""
    return [name for name, value in vars(protocol).items()
            if inspect.isfunction(value) and not name.startswith("_")]


def mismatches(impl: object, protocol: type) -> list[str]:
    """How impl's methods differ from the protocol's: parameters missing, of another kind,
    with another default, or extra ones a caller of the protocol could not leave out."""
    found = []
    for name in methods(protocol):
        wanted = list(inspect.signature(getattr(protocol, name)).parameters.values())[1:]  # self
        given = inspect.signature(getattr(impl, name)).parameters
        for param in wanted:
            other = given.get(param.name)
            if other is None:
                found.append(f"{name}: no parameter {param.name!r}")
            elif other.kind != param.kind or other.default != param.default:
                found.append(f"{name}: {param.name!r} is {other.kind.description}, default"
                             f" {other.default!r}, not as in the protocol")
        names = {p.name for p in wanted}
        found += [f"{name}: extra required parameter {p.name!r}" for p in given.values()
                  if p.name not in names and p.default is p.empty
                  and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return found


@pytest.fixture
def real_pool(tmp_path):
    return LingmaPool(CoreSettings(work_dir=str(tmp_path)))  # not started: no Lingma, no lock


def test_the_protocols_list_what_the_pipeline_calls():
    assert methods(ports.Pool) == ["wait_ready", "await_ready", "ask", "models", "context_window"]
    assert methods(ports.ChatStream) == ["events", "cancel", "close"]


def test_the_real_pool_and_stream_implement_the_protocols(real_pool):
    stream = core_stream.ChatStream("r-1", "s-1", "qwen3-coder", instance_name="lingma-0")
    assert isinstance(real_pool, ports.Pool) and isinstance(real_pool.settings, ports.PoolSettings)
    assert isinstance(stream, ports.ChatStream)
    assert mismatches(real_pool, ports.Pool) == []
    assert mismatches(stream, ports.ChatStream) == []


def test_the_fakes_implement_the_protocols_as_the_real_ones_do():
    pool = FakePool()
    assert isinstance(pool, ports.Pool) and isinstance(pool.settings, ports.PoolSettings)
    assert isinstance(pool.ask("hi", None), ports.ChatStream)
    assert mismatches(pool, ports.Pool) == []
    assert mismatches(FakeStream([]), ports.ChatStream) == []


def test_a_drifted_fake_is_caught():
    class Drifted(FakePool):
        def ask(self, prompt, model, images=()):  # renamed, dropped, no longer keyword-only
            return super().ask(prompt, model, images=images)

    assert mismatches(Drifted(), ports.Pool) == [
        "ask: no parameter 'model_key'",
        "ask: no parameter 'ask_mode'",
        "ask: 'images' is positional or keyword, default (), not as in the protocol",
        "ask: no parameter 'tenant'",
        "ask: extra required parameter 'model'",
    ]
    assert not isinstance(object(), ports.Pool)


def test_a_request_waits_as_long_as_the_pools_startup_timeout(make_app, pool):
    pool.settings, pool.ready = CoreSettings(startup_timeout=2.5), False
    resp = make_app().test_client().post("/v1/chat/completions", json={"messages": HI})
    assert resp.status_code == 200 and pool.awaited == [2.5]
