"""What the context guard knows of a model's window: a registry field of `config/queryModels`,
else the `limitTokens` an instance last reported (ACP `context_usage`); None when neither."""

from __future__ import annotations

import pytest

from lingma_flask.lingma.instance import LingmaInstance
from lingma_flask.lingma.models import parse_models
from lingma_flask.lingma.models import window_of
from lingma_flask.lingma.pool import LingmaPool
from lingma_flask.lingma.settings import CoreSettings


@pytest.mark.parametrize("entry, window", [
    ({"maxInputTokens": 131072}, 131072), ({"contextWindow": "32768"}, 32768),
    ({"context_length": 8192.0}, 8192), ({"maxInputTokens": 0, "contextLength": 4096}, 4096),
    ({"maxInputTokens": True}, None), ({"maxInputTokens": -1}, None), ({"maxTokens": 4096}, None), ({}, None),
])
def test_a_model_entry_gives_its_window_under_the_names_builds_use(entry, window):
    assert window_of({"key": "m", **entry}) == window


def test_the_pool_prefers_the_registry_then_the_largest_reported_limit(tmp_path):
    settings = CoreSettings(work_dir=str(tmp_path))
    pool = LingmaPool(settings)   # not started: its instances are set by hand
    first, second = (LingmaInstance(f"lingma-{i}", settings, tmp_path / str(i)) for i in (0, 1))
    registry = parse_models({"chat": [{"key": "small", "maxInputTokens": 1000}, {"key": "plain"}]})
    first.models = second.models = registry
    pool.instances = [first, second]
    assert pool.context_window("small") == 1000
    assert pool.context_window("plain") is None and pool.context_window(None) is None
    first.context_usage = {"usedTokens": 10, "limitTokens": 64000}
    second.context_usage = {"usedTokens": 10, "limitTokens": 128000}
    assert pool.context_window("plain") == 128000 and pool.context_window("small") == 1000


def test_an_acp_lingma_reports_its_window_after_a_chat(make_pool, monkeypatch):
    monkeypatch.setenv("LINGMA_SIM_PROTOCOL", "acp")
    monkeypatch.setenv("LINGMA_SIM_CONTEXT_LIMIT", "65536")
    pool = make_pool(protocol="acp")
    assert pool.context_window("auto") is None   # nothing reported yet
    assert "".join(pool.ask("hello", "auto")) == "You said: hello"
    assert pool.context_window("auto") == 65536
