"""A Job is made launched or pending (issue 14): a stream that arrives while no Lingma is ready
names its model in `x-lingma-model` and resolves it exactly once."""

import pytest

from lingma_flask.lingma.errors import LingmaNotReadyError
from lingma_flask.pipeline import job as pipeline
from lingma_flask.pipeline.conversation import ChatRequest
from lingma_flask.pipeline.conversation import Turn
from lingma_flask.web.errors import ApiError
from lingma_flask.web.requestlog import RequestRecord

from .sse import content
from .sse import payloads

CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def resolutions(monkeypatch):
    """Record the model names the pipeline resolves (the spy still resolves them)."""
    asked = []
    real = pipeline.resolve_target

    def spy(*args, **kwargs):
        asked.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "resolve_target", spy)
    return asked


def starting(pool, registry_known: bool) -> None:
    """Make the fake pool a Lingma that is starting, with or without its registry, then ready."""
    pool.ready = False
    if not registry_known:   # a first start: Lingma has not listed its models yet
        pool.models_error = LingmaNotReadyError("starting", retry_after=5)

    def becomes_ready(timeout):
        pool.awaited.append(timeout)
        pool.ready, pool.models_error = True, None
        return True

    pool.await_ready = becomes_ready


@pytest.mark.parametrize("registry_known", [True, False])
@pytest.mark.parametrize("model, known, unknown", [
    ("qwen3-coder", "qwen3-coder", "qwen3-coder"),
    ("Qwen3-Coder", "qwen3-coder", "Qwen3-Coder"),   # a display name: the key once resolved
    (None, "qwen3-coder", "auto"),                   # Lingma's default, once it is known
])
def test_a_stream_before_lingma_is_ready_names_its_model_and_resolves_it_once(
        client, pool, resolutions, registry_known, model, known, unknown):
    starting(pool, registry_known)
    body = {"messages": HI, "stream": True} | ({"model": model} if model else {})
    resp = client.post(CHAT, json=body)
    assert resp.status_code == 200
    assert resp.headers["x-lingma-model"] == (known if registry_known else unknown)
    assert resolutions == ([model] if registry_known else [])   # unknown: resolved after the wait
    assert content(payloads(resp.get_data(as_text=True))) == "Hello world"
    assert resolutions == [model]                   # once: at start, or after the wait
    assert [key for _, key, _ in pool.asks] == ["qwen3-coder"] and pool.awaited


def context(pool) -> pipeline.Context:
    return pipeline.Context(pool, {}, "separate", 0.01)


def chat(stream: bool, model: str | None = "qwen3-coder") -> ChatRequest:
    return ChatRequest((Turn("user", "hi"),), model=model, stream=stream)


def record() -> RequestRecord:
    return RequestRecord("req_1", "POST", CHAT)


@pytest.mark.parametrize("stream", [True, False])
def test_with_lingma_ready_a_job_is_made_launched(pool, resolutions, stream):
    job = pipeline.start(chat(stream), record(), context(pool))
    assert not job.pending and job.resolved and job.target.key == "qwen3-coder"
    assert resolutions == ["qwen3-coder"] and len(pool.asks) == 1
    job.close()


def test_a_non_streamed_request_waits_and_its_job_is_made_launched(pool, resolutions):
    starting(pool, registry_known=False)
    job = pipeline.start(chat(False), record(), context(pool))
    assert not job.pending and job.resolved and pool.awaited == [30.0]
    assert resolutions == ["qwen3-coder"]
    job.close()


@pytest.mark.parametrize("registry_known", [True, False])
def test_a_stream_before_lingma_is_ready_is_made_pending(pool, resolutions, registry_known):
    starting(pool, registry_known)
    rec = record()
    job = pipeline.start(chat(True, "Qwen3-Coder"), rec, context(pool))
    assert job.pending and job.resolved is registry_known and not pool.asks
    assert job.target.key == ("qwen3-coder" if registry_known else "Qwen3-Coder")
    list(job.run(0.01))
    assert not job.pending and job.resolved and job.target.key == "qwen3-coder"
    assert resolutions == ["Qwen3-Coder"] and rec.model == "Qwen3-Coder"


def test_an_unknown_model_with_the_registry_known_is_refused_before_any_wait(pool, resolutions):
    starting(pool, registry_known=True)
    with pytest.raises(ApiError) as caught:
        pipeline.start(chat(True, "no-such-model"), record(), context(pool))
    assert caught.value.status == 404 and caught.value.code == "model_not_found"
    assert resolutions == ["no-such-model"] and not pool.awaited and not pool.asks
