"""The ACP adapter (lingma/acp.py) against a scripted peer: setup, routing, finish, cancel, detection."""

import queue
import threading

import pytest

from lingma_flask.lingma import acp
from lingma_flask.lingma.errors import LingmaConnectionError
from lingma_flask.lingma.errors import LingmaNotLoggedInError
from lingma_flask.lingma.errors import LingmaQuotaError
from lingma_flask.lingma.errors import LingmaRateLimitError
from lingma_flask.lingma.errors import LingmaRpcError
from lingma_flask.lingma.errors import LingmaTimeoutError
from lingma_flask.lingma.errors import LingmaUpstreamError
from lingma_flask.lingma.instance import forget_session
from lingma_flask.lingma.stream import ChatStream
from lingma_flask.lingma.stream import Deadlines
from lingma_flask.lingma.stream import Thought

DEADLINES = Deadlines(first_token=5, idle=5, total=10)


class Chat:
    """One `acp.ask` run in a thread while the test plays Lingma's part of the setup."""

    def __init__(self, router, model="auto", timeout=5.0, prompt="hi", mode="chat", images=()):
        self.box = {}

        def make(request_id, session_id):
            return ChatStream(request_id, session_id, model, deadlines=DEADLINES,
                              stopper=acp.canceller(router.conn), on_close=self._closed(router))
        self.thread = threading.Thread(target=self._run, args=(router, prompt, model, mode, timeout, make, images))
        self.thread.start()

    def _closed(self, router):
        def closed(stream):  # what LingmaInstance does when an ACP stream closes
            router.forget(stream)
            router.conn.unregister(stream.request_id)
            forget_session(router.conn, stream)
        return closed

    def _run(self, router, prompt, model, mode, timeout, make, images):
        try:
            self.box["stream"] = acp.ask(router, prompt, model, mode=mode, cwd="/work/dir",
                                         timeout=timeout, make_stream=make, images=images)
        except Exception as exc:
            self.box["error"] = exc

    def result(self):
        self.thread.join(10)
        assert not self.thread.is_alive()
        if "error" in self.box:
            raise self.box["error"]
        return self.box["stream"]


def reply(peer, message, result):
    peer.send({"jsonrpc": "2.0", "id": message["id"], "result": result})


def open_chat(peer, router, session_id="S1", **kwargs):
    """Answer session/new (and set_model); return (stream, the session/prompt message)."""
    chat = Chat(router, **kwargs)
    reply(peer, peer.expect_method("session/new"), {"sessionId": session_id})
    if kwargs.get("model", "auto"):
        reply(peer, peer.expect_method("session/set_model"), None)
    prompt = peer.expect_method("session/prompt")
    return chat.result(), prompt


def update(session_id, kind, request_id=None, msg_id=None, **fields):
    params = {"sessionId": session_id, "update": {"sessionUpdate": kind, **fields}}
    if request_id is not None:
        params["_meta"] = {"ai-coding/request-id": request_id}
    message = {"jsonrpc": "2.0", "method": "session/update", "params": params}
    if msg_id is not None:
        message["id"] = msg_id
    return message


def chunk(session_id, text, request_id=None, kind="agent_message_chunk", **extra):
    return update(session_id, kind, request_id, content={"type": "text", "text": text}, **extra)


def finish(session_id, request_id=None, **data):
    return update(session_id, "notification", request_id, type="chat_finish", data={"reason": "success", **data})


@pytest.fixture
def router(conn):
    usage = []
    r = acp.AcpRouter(conn, usage.append)
    r.usage = usage
    return r


def test_setup_then_prompt_carry_the_documented_fields(peer, router):
    stream, prompt = open_chat(peer, router, prompt="Hello", mode="agent")
    params = prompt["params"]
    assert params["sessionId"] == "S1" == stream.session_id
    assert params["prompt"] == [{"type": "text", "text": "Hello"}]
    assert params["_meta"]["ai-coding/request-id"] == stream.request_id
    assert params["_meta"]["ai-coding/mode"] == "agent"
    assert isinstance(prompt["id"], int) and stream.ask_rpc_id == prompt["id"]
    assert router.conn.streams == {stream.request_id: stream}


def test_session_new_and_set_model_params(peer, router):
    chat = Chat(router, model="kmodel")
    new = peer.expect_method("session/new")
    assert new["params"]["cwd"] == "/work/dir"
    assert new["params"]["mcpServers"] == [] and new["params"]["_meta"] == {}
    reply(peer, new, {"id": "S-by-id"})   # some builds name it `id`
    set_model = peer.expect_method("session/set_model")
    assert set_model["params"]["sessionId"] == "S-by-id" and set_model["params"]["modelId"] == "kmodel"
    reply(peer, set_model, {})
    assert peer.expect_method("session/prompt")["params"]["_meta"]["ai-coding/model"] == "kmodel"
    assert chat.result().session_id == "S-by-id"


def test_no_model_no_set_model(peer, router):
    stream, prompt = open_chat(peer, router, model=None)
    assert "ai-coding/model" not in prompt["params"]["_meta"] and stream.model_key is None


def test_images_go_as_image_items(peer, router):
    _, prompt = open_chat(peer, router, images=("data:image/png;base64,iVBORw0KGgo=",))
    assert prompt["params"]["prompt"][1] == {"type": "image", "mimeType": "image/png", "data": "iVBORw0KGgo="}


def test_updates_route_by_request_id_between_two_chats(peer, router):
    s1, _ = open_chat(peer, router, "S1")
    s2, _ = open_chat(peer, router, "S2")
    # the request id decides, even against the session id a build might reuse
    peer.send(chunk("S2", "Hel", s1.request_id))
    peer.send(chunk("S1", "Wor", s2.request_id))
    peer.send(chunk("S1", "stray", "someone-else"))
    peer.send(chunk("S1", "lo", s1.request_id))
    peer.send(chunk("S2", "ld", s2.request_id))
    peer.send(finish("S1", s1.request_id, fullAnswer="Hello"))
    peer.send(finish("S2", s2.request_id))
    assert list(s1) == ["Hel", "lo"] and list(s2) == ["Wor", "ld"]
    assert s1.finish.status_code == 200 and s1.finish.reason == "success" and s1.finish.session_id == "S1"
    assert router.conn.streams == {} and router._sessions == {}


def test_updates_without_meta_route_by_session(peer, router):
    s1, _ = open_chat(peer, router, "S1")
    s2, _ = open_chat(peer, router, "S2")
    peer.send(chunk("S2", "two"))
    peer.send(chunk("S1", "one"))
    peer.send(chunk("S-unknown", "stray"))
    peer.send(finish("S1"))
    peer.send(finish("S2"))
    assert list(s1) == ["one"] and list(s2) == ["two"]


def test_update_requests_are_acked(peer, router):
    stream, _ = open_chat(peer, router)
    peer.send(chunk("S1", "ok", stream.request_id, msg_id=31))
    peer.send({"jsonrpc": "2.0", "id": 32, "method": "task/status/sync", "params": {"sessionId": "S1"}})
    peer.send(finish("S1", stream.request_id) | {"id": 33})
    assert list(stream) == ["ok"]
    acked = {peer.expect(lambda m: "result" in m)["id"] for _ in range(3)}
    assert acked == {31, 32, 33}


def test_thought_chunks_are_reasoning(peer, router):
    stream, _ = open_chat(peer, router)
    peer.send(chunk("S1", "Let me think", stream.request_id, kind="agent_thought_chunk",
                    _meta={"ai-coding/thinking-duration-millis": 12}))
    peer.send(chunk("S1", "Answer", stream.request_id))
    peer.send(finish("S1", stream.request_id))
    assert list(stream.events(None, reasoning=True)) == [Thought("Let me think"), "Answer"]
    assert stream.text == "Answer" and stream.reasoning == "Let me think"


def test_context_usage_lands_on_the_stream_and_the_instance(peer, router):
    stream, _ = open_chat(peer, router)
    peer.send(update("S1", "notification", stream.request_id, type="context_usage",
                     data={"usedTokens": 1200, "limitTokens": 131072}))
    peer.send(update("S1", "notification", stream.request_id, type="context_usage", data={"usedTokens": "x"}))
    peer.send(chunk("S1", "ok", stream.request_id))
    peer.send(finish("S1", stream.request_id))
    assert list(stream) == ["ok"]
    assert stream.context_usage == {"usedTokens": 1200, "limitTokens": 131072}
    assert router.usage == [{"usedTokens": 1200, "limitTokens": 131072}]


def test_text_only_in_full_answer_is_used(peer, router):
    stream, _ = open_chat(peer, router)
    peer.send(chunk("S1", "", stream.request_id))
    peer.send(finish("S1", stream.request_id, fullAnswer="whole"))
    assert list(stream) == ["whole"]


@pytest.mark.parametrize(("data", "error"), [
    ({"statusCode": 429, "reason": "rate limited"}, LingmaRateLimitError),
    ({"statusCode": 401}, LingmaNotLoggedInError),
    ({"reason": "quota exceeded"}, LingmaQuotaError),
    ({"reason": "user not logged in"}, LingmaNotLoggedInError),
    ({"reason": "error"}, LingmaUpstreamError),
])
def test_a_failing_finish_raises_what_classic_raises(peer, router, data, error):
    stream, _ = open_chat(peer, router)
    peer.send(finish("S1", stream.request_id, **data))
    with pytest.raises(error):
        list(stream)


@pytest.mark.parametrize(("reason", "status"), [
    ("success", 200), ("finished", 200), ("cancelled", 200), ("end_turn", 200), ("", 200),
    ("timeout", 408), ("content filtered", 406), ("too many requests", 429), ("access denied", 403),
    ("internal error", 500), ("unauthorized", 401),
])
def test_reason_status(reason, status):
    assert acp.reason_status(reason) == status


def test_an_error_reply_to_the_prompt_fails_the_stream(peer, router):
    stream, prompt = open_chat(peer, router)
    peer.send({"jsonrpc": "2.0", "id": prompt["id"], "error": {"code": -32603, "message": "no"}})
    with pytest.raises(LingmaUpstreamError, match="no"):
        list(stream)


def test_a_stop_reason_reply_is_not_the_end(peer, router):
    stream, prompt = open_chat(peer, router)
    reply(peer, prompt, {"stopReason": "end_turn"})
    peer.send(chunk("S1", "still", stream.request_id))
    peer.send(finish("S1", stream.request_id))
    assert list(stream) == ["still"]


def test_close_before_the_end_cancels_then_deletes_the_session(peer, router):
    stream, _ = open_chat(peer, router)
    peer.send(chunk("S1", "part", stream.request_id))
    events = stream.events(None)
    assert next(events) == "part"
    events.close()
    cancel = peer.expect_method("session/cancel")
    assert "id" not in cancel and cancel["params"] == {"sessionId": "S1"}
    deleted = peer.expect_method("chat/deleteSessionById")
    assert deleted["params"]["sessionId"] == "S1"
    assert router.conn.streams == {} and router._sessions == {}


def test_a_finished_chat_deletes_its_session_without_cancel(peer, router):
    stream, _ = open_chat(peer, router)
    peer.send(finish("S1", stream.request_id, fullAnswer="x"))
    assert list(stream) == ["x"]
    stream.close()
    assert peer.expect(lambda m: m.get("method") in ("session/cancel", "chat/deleteSessionById"))["method"] \
        == "chat/deleteSessionById"


def test_setup_timeout_is_typed(peer, router):
    chat = Chat(router, timeout=0.3)
    peer.expect_method("session/new")
    with pytest.raises(LingmaTimeoutError, match="session/new within 0.3 s"):
        chat.result()
    assert router.conn.streams == {}


def test_set_model_failure_deletes_the_session_made(peer, router):
    chat = Chat(router, model="nope", timeout=0.3)
    reply(peer, peer.expect_method("session/new"), {"sessionId": "S9"})
    peer.expect_method("session/set_model")
    with pytest.raises(LingmaTimeoutError, match="session/set_model"):
        chat.result()
    assert peer.expect_method("chat/deleteSessionById")["params"]["sessionId"] == "S9"
    assert router.conn.streams == {}


def test_no_session_id_is_an_upstream_error(peer, router):
    chat = Chat(router)
    reply(peer, peer.expect_method("session/new"), {})
    with pytest.raises(LingmaUpstreamError, match="no session id"):
        chat.result()


def test_a_lost_connection_fails_the_chat(peer, router):
    stream, _ = open_chat(peer, router)
    peer.drop()
    with pytest.raises(LingmaConnectionError):
        list(stream)


# -- detection -------------------------------------------------------------------------
def detect_async(conn, setting="auto", info=None, timeout=5.0):
    box = {}

    def run():
        box["result"] = acp.detect(conn, setting, info or {"capabilities": {}}, cwd="/w", timeout=timeout)
    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


@pytest.mark.parametrize("info", [{"protocolVersion": 1}, {"agentCapabilities": {}}])
def test_an_acp_initialize_answer_decides_without_a_probe(peer, conn, info):
    protocol, why = acp.detect(conn, "auto", info, cwd="/w", timeout=5)
    assert protocol == "acp" and "initialize answered" in why
    with pytest.raises(queue.Empty):
        peer.expect_method("session/new", timeout=0.2)


@pytest.mark.parametrize("setting", ["classic", "acp"])
def test_a_protocol_setting_is_taken_as_said(conn, setting):
    assert acp.detect(conn, setting, {"protocolVersion": 1}, cwd="/w", timeout=5) == \
        (setting, f"LINGMA_PROTOCOL={setting}")


@pytest.mark.parametrize(("error", "protocol"), [
    ({"code": -32601, "message": "method not found"}, "classic"),
    ({"code": -32603, "message": "unknown method session/new"}, "classic"),
    ({"code": -32603, "message": "not logged in"}, "acp"),
])
def test_the_probe_reads_its_error(peer, conn, error, protocol):
    thread, box = detect_async(conn)
    probe = peer.expect_method("session/new")
    peer.send({"jsonrpc": "2.0", "id": probe["id"], "error": error})
    thread.join(5)
    assert box["result"][0] == protocol


def test_a_served_probe_means_acp_and_its_session_is_deleted(peer, conn):
    thread, box = detect_async(conn)
    reply(peer, peer.expect_method("session/new"), {"sessionId": "probe-1"})
    thread.join(5)
    assert box["result"] == ("acp", "session/new is served")
    assert peer.expect_method("chat/deleteSessionById")["params"]["sessionId"] == "probe-1"


def test_an_unanswered_probe_means_classic(peer, conn):
    thread, box = detect_async(conn, timeout=0.3)
    peer.expect_method("session/new")
    thread.join(5)
    assert box["result"] == ("classic", "session/new went unanswered within 0.3 s")


def test_auth_status_falls_back_to_the_models(peer, conn):
    box = {}
    thread = threading.Thread(target=lambda: box.update(auth=acp.auth_status(conn, 5)))
    thread.start()
    status = peer.expect_method("auth/status")
    peer.send({"jsonrpc": "2.0", "id": status["id"], "error": {"code": -32601, "message": "method not found"}})
    models = peer.expect_method("config/queryModels")
    reply(peer, models, {"chat": [{"key": "auto", "displayName": "Auto"}]})
    thread.join(5)
    assert box["auth"]["status"] == 2


def test_auth_status_other_errors_are_raised(peer, conn):
    box = {}

    def run():
        try:
            acp.auth_status(conn, 5)
        except LingmaRpcError as exc:
            box["error"] = exc
    thread = threading.Thread(target=run)
    thread.start()
    status = peer.expect_method("auth/status")
    peer.send({"jsonrpc": "2.0", "id": status["id"], "error": {"code": -32603, "message": "boom"}})
    thread.join(5)
    assert box["error"].code == -32603


def test_initialize_params_are_both_generations():
    params = acp.initialize_params({"rootUri": "file:///w", "capabilities": {}})
    assert params["rootUri"] == "file:///w" and params["protocolVersion"] == 1
    assert params["clientCapabilities"] == {} and isinstance(params["timestamp"], int)


def test_classic_context_usage_sync_is_usage_too(peer, conn):
    seen = []
    acp.watch_context_usage(conn, seen.append)
    peer.send({"jsonrpc": "2.0", "id": 8, "method": "context/usage/sync",
               "params": {"usedTokens": 10, "limitTokens": 200}})
    assert peer.expect(lambda m: m.get("id") == 8)["result"] == {}
    assert seen == [{"usedTokens": 10, "limitTokens": 200}]
