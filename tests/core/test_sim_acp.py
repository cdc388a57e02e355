"""The simulator's ACP-style surface on the wire (docs/simulator.md, "ACP")."""

import pytest

from tests.core.simclient import Sim

META = "ai-coding/request-id"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Sim(tmp_path_factory.mktemp("sim-acp"), {"LINGMA_SIM_FIRST_TOKEN_DELAY": "0.01",
                                                  "LINGMA_SIM_CHUNK_DELAY": "0.001"},
            args=("--protocol", "acp")).wait_ready()
    yield s
    s.stop()


@pytest.fixture
def client(sim):
    peer = sim.client(initialize=False)
    init = peer.request("initialize", {"protocolVersion": 1, "clientCapabilities": {}})
    peer.init = init
    yield peer
    peer.close()


def new_session(client, model=None) -> str:
    session_id = client.request("session/new", {"cwd": "/w", "mcpServers": [], "_meta": {}})["result"]["sessionId"]
    if model:
        assert client.request("session/set_model", {"sessionId": session_id, "modelId": model})["result"] == {}
    return session_id


def prompt(client, session_id, text, request_id="req-1", msg_id=900, mode="chat"):
    client.send({"jsonrpc": "2.0", "id": msg_id, "method": "session/prompt", "params": {
        "sessionId": session_id, "prompt": [{"type": "text", "text": text}],
        "_meta": {META: request_id, "ai-coding/mode": mode}}})


def collect(client, session_id, timeout=5.0) -> list:
    """Every message about the session up to and including its chat_finish update."""
    out = []
    while True:
        message = client.next(lambda m: (m.get("params") or {}).get("sessionId") == session_id, timeout)
        out.append(message)
        update = message["params"].get("update") or {}
        if update.get("type") == "chat_finish":
            return out


def updates(messages, kind):
    return [m["params"]["update"] for m in messages
            if m.get("method") == "session/update" and m["params"]["update"]["sessionUpdate"] == kind]


def notification(messages, what):
    return next(u["data"] for u in updates(messages, "notification") if u["type"] == what)


def test_initialize_is_answered_the_acp_way(client):
    result = client.init["result"]
    assert result["protocolVersion"] == 1 and "agentCapabilities" in result
    assert result["agentInfo"]["name"] == "qodercn"


def test_a_prompt_streams_session_updates(client):
    session_id = new_session(client, "auto")
    prompt(client, session_id, "hello acp")
    messages = collect(client, session_id)
    chunks = updates(messages, "agent_message_chunk")
    assert "".join(u["content"]["text"] for u in chunks) == "You said: hello acp"
    assert all(m["params"]["_meta"][META] == "req-1" for m in messages if m["method"] == "session/update")
    assert all("id" not in m for m in messages if m["method"] == "session/update")   # notifications
    usage = notification(messages, "context_usage")
    assert usage["limitTokens"] == 131072 and usage["usedTokens"] > 0
    finish = notification(messages, "chat_finish")
    assert finish["statusCode"] == 200 and finish["reason"] == "success"
    assert finish["fullAnswer"] == "You said: hello acp" and finish["requestId"] == "req-1"
    assert [m["method"] for m in messages if m["method"] != "session/update"] == \
        ["chat/process_step_callback", "task/status/sync", "chat/process_step_callback"]
    assert client.quiet(0.1) == []   # reply=none: the prompt request gets no reply


def test_reasoning_comes_as_thought_chunks(client):
    session_id = new_session(client, "dashscope_qwen_plus_20250428_thinking")
    prompt(client, session_id, "why")
    thoughts = updates(collect(client, session_id), "agent_thought_chunk")
    assert "".join(u["content"]["text"] for u in thoughts) == "Thinking about: why"
    assert all(isinstance(u["_meta"]["ai-coding/thinking-duration-millis"], int) for u in thoughts)


def test_markers_updates_as_requests_without_meta_and_a_limit(client):
    session_id = new_session(client)
    prompt(client, session_id, "x [[sim:updates=request,nometa,limit_tokens=4096]]")
    messages = collect(client, session_id)
    sent = [m for m in messages if m["method"] == "session/update"]
    assert sent and all(isinstance(m.get("id"), int) and "_meta" not in m["params"] for m in sent)
    assert notification(messages, "context_usage")["limitTokens"] == 4096


def test_reply_success_answers_the_prompt_after_its_finish(client):
    session_id = new_session(client)
    prompt(client, session_id, "x [[sim:reply=success]]", msg_id=901)
    collect(client, session_id)
    assert client.next(lambda m: m.get("id") == 901)["result"] == {"stopReason": "end_turn"}


def test_reply_error_fails_the_prompt(client):
    session_id = new_session(client)
    prompt(client, session_id, "x [[sim:reply=error]]", msg_id=902)
    assert client.next(lambda m: m.get("id") == 902)["error"]["code"] == -32603


def test_finish_codes_come_in_chat_finish(client):
    session_id = new_session(client)
    prompt(client, session_id, "x [[sim:finish=429]]")
    finish = notification(collect(client, session_id), "chat_finish")
    assert finish["statusCode"] == 429 and finish["reason"] == "rate limited"


def test_cancel_stops_the_session_s_chat(client, sim):
    session_id = new_session(client)
    prompt(client, session_id, "x [[sim:stall]]", request_id="req-stall")
    client.next(lambda m: m.get("method") == "task/status/sync")
    client.send({"jsonrpc": "2.0", "method": "session/cancel", "params": {"sessionId": session_id}})
    finish = notification(collect(client, session_id), "chat_finish")
    assert finish["reason"] == "cancelled" and finish["statusCode"] == 200
    state = sim.state()
    assert session_id in state["acp"]["cancels"] and "req-stall" in state["stops"]


def test_unknown_sessions_are_refused(client):
    assert client.request("session/set_model", {"sessionId": "nope", "modelId": "auto"})["error"]["code"] == -32602
    client.send({"jsonrpc": "2.0", "id": 903, "method": "session/prompt",
                 "params": {"sessionId": "nope", "prompt": [{"type": "text", "text": "x"}]}})
    assert client.next(lambda m: m.get("id") == 903)["error"]["code"] == -32602


def test_delete_forgets_the_session(client, sim):
    session_id = new_session(client)
    before = sim.state()["acp"]["sessions"]
    assert client.request("chat/deleteSessionById", {"sessionId": session_id})["result"] is None
    assert sim.state()["acp"]["sessions"] == before - 1


def test_classic_chat_ask_is_still_served(client):
    request_id = client.ask("classic too")
    pushes = client.collect(request_id)
    assert pushes[-1]["method"] == "chat/finish" and pushes[-1]["params"]["fullAnswer"] == "You said: classic too"


def test_a_classic_simulator_does_not_serve_session_new(start_sim):
    peer = start_sim().client()
    try:
        assert peer.request("session/new", {"cwd": "/w"})["error"]["code"] == -32601
    finally:
        peer.close()


def test_an_lsp_shaped_initialize(start_sim):
    peer = start_sim({"LINGMA_SIM_PROTOCOL": "acp", "LINGMA_SIM_ACP_INIT": "lsp"}).client(initialize=False)
    try:
        result = peer.request("initialize", {})["result"]
        assert result["serverInfo"]["name"] == "qodercn" and "protocolVersion" not in result
        assert "sessionId" in peer.request("session/new", {"cwd": "/w"})["result"]
    finally:
        peer.close()
