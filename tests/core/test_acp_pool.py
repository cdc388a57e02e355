"""LINGMA_PROTOCOL against real simulator processes: `auto` detection, and ACP chats end to end."""

import logging

import pytest

from lingma_flask.lingma import errors
from lingma_flask.lingma.instance import wait_until
from lingma_flask.lingma.stream import Thought
from tests.core.conftest import shared_pool_of
from tests.core.conftest import sim_state

THINKING = "dashscope_qwen_plus_20250428_thinking"


@pytest.fixture
def acp_sim(monkeypatch):
    """The simulators the test starts speak ACP."""
    monkeypatch.setenv("LINGMA_SIM_PROTOCOL", "acp")


@pytest.fixture(scope="module")
def acp_pool(tmp_path_factory):
    """One ready ACP pool for the tests that only ask it (see conftest's `shared_pool_of`)."""
    with shared_pool_of(tmp_path_factory.mktemp("acp") / "work", LINGMA_SIM_PROTOCOL="acp") as pool:
        assert pool.instances[0].protocol == "acp"
        yield pool


def chosen(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "] protocol " in r.getMessage()]


def test_auto_picks_classic_on_a_classic_lingma(make_pool, caplog):
    caplog.set_level(logging.INFO, "lingma_flask.lingma.instance")
    pool = make_pool()
    instance = pool.instances[0]
    assert instance.protocol == "classic" and pool.health()["instances"][0]["protocol"] == "classic"
    assert chosen(caplog) == ["[lingma-0] protocol classic (session/new is not served (code -32601))"]
    assert "".join(pool.ask("hello", None)) == "You said: hello"
    assert sim_state(instance)["asks"][0]["protocol"] == "classic"


def test_auto_picks_acp_from_the_initialize_answer(make_pool, acp_sim, caplog):
    caplog.set_level(logging.INFO, "lingma_flask.lingma.instance")
    pool = make_pool()
    assert pool.health()["instances"][0]["protocol"] == "acp"
    assert chosen(caplog) == ["[lingma-0] protocol acp (initialize answered protocolVersion 1)"]
    assert sim_state(pool.instances[0])["acp"]["sessions_total"] == 0   # no probe was needed


def test_auto_probes_session_new_when_initialize_is_lsp_shaped(make_pool, acp_sim, monkeypatch, caplog):
    monkeypatch.setenv("LINGMA_SIM_ACP_INIT", "lsp")
    caplog.set_level(logging.INFO, "lingma_flask.lingma.instance")
    pool = make_pool()
    instance = pool.instances[0]
    assert instance.protocol == "acp"
    assert chosen(caplog) == ["[lingma-0] protocol acp (session/new is served)"]
    assert wait_until(lambda: sim_state(instance)["acp"]["sessions"] == 0, 5)  # the probe's, deleted
    assert "".join(pool.ask("hello", None)) == "You said: hello"


def test_classic_can_be_forced_on_a_desktop_that_serves_both(make_pool, acp_sim):
    pool = make_pool(protocol="classic")
    assert pool.instances[0].protocol == "classic"
    assert "".join(pool.ask("hello", None)) == "You said: hello"
    assert sim_state(pool.instances[0])["acp"]["sessions_total"] == 0


def test_an_acp_chat_end_to_end(make_pool, acp_sim):
    pool = make_pool()
    instance = pool.instances[0]
    stream = pool.ask("hello there", THINKING, ask_mode="agent")
    items = list(stream.events(None, reasoning=True))
    assert "".join(i.text for i in items if isinstance(i, Thought)) == "Thinking about: hello there"
    assert "".join(i for i in items if isinstance(i, str)) == "You said: hello there"
    assert stream.finish.status_code == 200 and stream.finish.session_id == stream.session_id
    assert stream.context_usage["limitTokens"] == 131072 and instance.context_limit == 131072
    state = sim_state(instance)
    ask = state["asks"][0]
    assert ask["protocol"] == "acp" and ask["requestId"] == stream.request_id
    assert ask["sessionId"] == stream.session_id and ask["model"] == THINKING and ask["mode"] == "agent"
    assert state["acp"]["set_models"] == [{"sessionId": stream.session_id, "modelId": THINKING}]
    assert wait_until(lambda: sim_state(instance)["acp"]["sessions"] == 0, 5)  # deleted after the chat
    assert pool.health()["in_flight"] == 0 and instance.conn.streams == {}


def test_closing_an_acp_chat_sends_session_cancel(make_pool, acp_sim):
    pool = make_pool()
    instance = pool.instances[0]
    stream = pool.ask("slow [[sim:len=2000]] [[sim:delay=0.05]]", None)
    assert next(iter(stream))
    stream.close()
    assert wait_until(lambda: stream.session_id in sim_state(instance)["acp"]["cancels"], 5)
    assert stream.request_id in sim_state(instance)["stops"]
    assert wait_until(lambda: sim_state(instance)["acp"]["sessions"] == 0, 5)
    assert pool.health()["in_flight"] == 0


@pytest.mark.parametrize("marker", ["updates=request", "nometa", "split", "coalesce", "garbage",
                                    "reply=success", "empty_then_full"])
def test_acp_wire_variants_give_the_same_answer(acp_pool, marker):
    pool = acp_pool
    assert "".join(pool.ask(f"variant 中文 [[sim:{marker}]]", None)) == "You said: variant 中文"
    assert wait_until(lambda: sim_state(pool.instances[0])["acks"]["missing"] == 0, 5)


@pytest.mark.parametrize("code,error_type", [
    (429, errors.LingmaRateLimitError), (403, errors.LingmaQuotaError), (401, errors.LingmaNotLoggedInError),
    (406, errors.LingmaContentFilterError), (500, errors.LingmaUpstreamError),
])
def test_acp_finish_errors_reach_the_consumer_typed(make_pool, acp_sim, acp_pool, code, error_type):
    pool = make_pool() if code == 401 else acp_pool  # a 401 logs its instance out
    with pytest.raises(error_type):
        list(pool.ask(f"fail [[sim:finish={code}]]", None))
    assert pool.health()["in_flight"] == 0


def test_an_acp_prompt_error_reply_fails_the_stream(acp_pool):
    pool = acp_pool
    with pytest.raises(errors.LingmaUpstreamError, match="simulated chat/ask error"):
        list(pool.ask("x [[sim:reply=error]] [[sim:ttft=5]]", None))


def test_an_unknown_model_fails_like_classic(acp_pool):
    pool = acp_pool
    with pytest.raises(errors.LingmaUpstreamError, match="40505"):
        list(pool.ask("x", "no-such-model"))


def test_a_desktop_without_auth_status_reads_its_login_from_the_models(make_pool, acp_sim, monkeypatch):
    monkeypatch.setenv("LINGMA_SIM_UNKNOWN_METHODS", "auth/status")
    pool = make_pool()
    instance = pool.instances[0]
    assert instance.logged_in and instance.auth["source"] == "config/queryModels"
    assert "".join(pool.ask("hello", None)) == "You said: hello"


def test_an_acp_stall_times_out_and_cancels(make_pool, acp_sim):
    pool = make_pool(first_token_timeout=0.5)
    stream = pool.ask("never [[sim:stall]]", None)
    with pytest.raises(errors.LingmaTimeoutError):
        list(stream)
    assert wait_until(lambda: stream.session_id in sim_state(pool.instances[0])["acp"]["cancels"], 5)


def test_a_picture_goes_in_the_prompt_as_an_image_item(make_pool, acp_sim):
    pool = make_pool()
    pixel = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhf"
             "DwAChwGA60e6kgAAAABJRU5ErkJggg==")
    stream = pool.ask("what is it?", "dashscope_qwen_vl_max", images=(pixel,))
    assert "".join(stream) == "You said: what is it? [1 image(s)]"
    ask = sim_state(pool.instances[0])["asks"][0]
    assert ask["imageUrls"] == ["inline:image/png"] and sim_state(pool.instances[0])["uploads"] == []
