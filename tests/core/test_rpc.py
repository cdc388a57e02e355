"""The RPC connection against a scripted peer: ids, acks, routing, faults."""

import threading
import time

import pytest

from lingma_flask.lingma import framing
from lingma_flask.lingma.errors import LingmaConnectionError
from lingma_flask.lingma.errors import LingmaProtocolError
from lingma_flask.lingma.errors import LingmaRpcError
from lingma_flask.lingma.errors import LingmaTimeoutError
from lingma_flask.lingma.errors import LingmaUpstreamError
from lingma_flask.lingma.rpc import RpcConnection
from lingma_flask.lingma.stream import ChatStream
from lingma_flask.lingma.stream import Deadlines

STREAM_DEADLINES = Deadlines(first_token=5, idle=5, total=10)


def open_stream(conn, request_id="r1", deadlines=STREAM_DEADLINES):
    def stopper(rid, sid):
        conn.request_nowait("chat/stop", {"requestId": rid, "sessionId": sid})
    stream = ChatStream(request_id, "s1", "auto", deadlines=deadlines, stopper=stopper,
                        on_close=lambda s: conn.unregister(s.request_id))
    conn.register(stream)
    return stream


def answer(rid, text, push_id):
    return {"jsonrpc": "2.0", "id": push_id, "method": "chat/answer", "params": {"requestId": rid, "text": text}}


def finish(rid, push_id, status=200, full="", reason="success"):
    return {"jsonrpc": "2.0", "id": push_id, "method": "chat/finish",
            "params": {"requestId": rid, "sessionId": "srv", "statusCode": status, "reason": reason,
                       "fullAnswer": full}}


def call_async(fn, *args, **kwargs):
    box = {}

    def run():
        try:
            box["result"] = fn(*args, **kwargs)
        except Exception as exc:
            box["error"] = exc
    t = threading.Thread(target=run)
    t.start()
    return t, box


def test_requests_use_integer_ids_and_match_replies_out_of_order(peer, conn):
    t1, b1 = call_async(conn.request, "one", {}, timeout=5)
    t2, b2 = call_async(conn.request, "two", {}, timeout=5)
    m1 = peer.expect_method("one")
    m2 = peer.expect_method("two")
    assert isinstance(m1["id"], int) and isinstance(m2["id"], int) and m1["id"] != m2["id"]
    peer.send({"jsonrpc": "2.0", "id": m2["id"], "result": "second"})
    peer.send({"jsonrpc": "2.0", "id": m1["id"], "result": "first"})
    t1.join(5), t2.join(5)
    assert (b1["result"], b2["result"]) == ("first", "second")
    assert conn._pending == {}


def test_request_timeout_is_typed_and_cleans_up(peer, conn):
    with pytest.raises(LingmaTimeoutError, match="did not answer slow within 0.2 s"):
        conn.request("slow", {}, timeout=0.2)
    assert conn._pending == {}


def test_rpc_error_carries_code_and_message(peer, conn):
    t, box = call_async(conn.request, "user/plan", {}, timeout=5)
    m = peer.expect_method("user/plan")
    peer.send({"jsonrpc": "2.0", "id": m["id"], "error": {"code": -32603, "message": "no plan"}})
    t.join(5)
    assert isinstance(box["error"], LingmaRpcError)
    assert box["error"].code == -32603 and "no plan" in box["error"].message


@pytest.mark.parametrize("method", ["chat/answer", "chat/finish", "chat/process_step_callback",
                                    "session/title/update", "something/new"])
def test_every_server_request_is_acked_with_empty_object(peer, conn, method):
    peer.send({"jsonrpc": "2.0", "id": 41, "method": method, "params": {"requestId": "unknown"}})
    ack = peer.expect(lambda m: m.get("id") == 41)
    assert ack == {"jsonrpc": "2.0", "id": 41, "result": {}}


def test_notifications_are_not_acked(peer, conn):
    peer.send({"jsonrpc": "2.0", "method": "chat/answer", "params": {"requestId": "x", "text": "a"}})
    peer.send({"jsonrpc": "2.0", "id": 5, "method": "ping", "params": {}})
    assert peer.expect(lambda m: "result" in m)["id"] == 5  # the first ack is the request's


def test_coalesced_pushes_route_to_their_streams_and_are_all_acked(peer, conn):
    s1, s2 = open_stream(conn, "r1"), open_stream(conn, "r2")
    blob = framing.encode(answer("r1", "Hel", 1)) + framing.encode(answer("r2", "Wor", 2)) + \
        framing.encode(answer("r1", "", 3)) + framing.encode(answer("r1", "lo", 4)) + \
        framing.encode(answer("r2", "ld", 5)) + framing.encode(finish("r1", 6)) + framing.encode(finish("r2", 7))
    peer.send_bytes(blob, text=True)
    assert list(s1) == ["Hel", "lo"]
    assert list(s2) == ["Wor", "ld"]
    acked = {peer.expect(lambda m: "result" in m)["id"] for _ in range(7)}
    assert acked == {1, 2, 3, 4, 5, 6, 7}
    assert conn.streams == {}
    assert s1.finish.status_code == 200 and s1.finish.session_id == "srv"


def test_frames_split_across_binary_messages_even_inside_utf8(peer, conn):
    stream = open_stream(conn)
    blob = framing.encode(answer("r1", "中文字符", 1)) + framing.encode(finish("r1", 2))
    for i in range(0, len(blob), 3):
        peer.send_bytes(blob[i:i + 3])
    assert "".join(stream) == "中文字符"


def test_garbage_frames_are_skipped_and_the_connection_lives(peer, conn):
    stream = open_stream(conn)
    peer.send_bytes(b"{\"bare\": \"json\"}\r\n\r\n", text=True)
    peer.send_bytes(b"Content-Length: 4\r\n\r\n{no}", text=True)
    peer.send(answer("r1", "ok", 1))
    peer.send(finish("r1", 2))
    assert list(stream) == ["ok"]
    assert not conn.closed.is_set()


def test_oversized_frame_drops_the_connection_and_fails_streams(peer, conn):
    stream = open_stream(conn)
    peer.send_bytes(b"Content-Length: 999999999\r\n\r\n", text=True)
    with pytest.raises(LingmaProtocolError, match="exceeds the 65536-byte limit"):
        list(stream)
    assert conn.closed.wait(5)
    assert conn.streams == {}


def test_socket_death_wakes_requests_and_streams_at_once(peer, conn):
    stream = open_stream(conn)
    t, box = call_async(conn.request, "waiting", {}, timeout=30)
    peer.expect_method("waiting")
    started = time.monotonic()
    peer.drop()
    with pytest.raises(LingmaConnectionError):
        list(stream)
    t.join(5)
    assert isinstance(box["error"], LingmaConnectionError)
    assert time.monotonic() - started < 5
    assert conn.streams == {} and conn._pending == {}
    with pytest.raises(LingmaConnectionError):
        conn.notify("after", {})


def test_tool_invoke_is_refused_at_once(peer, conn):
    peer.send({"jsonrpc": "2.0", "id": 77, "method": "tool/invoke",
               "params": {"requestId": "r1", "toolCallId": "call-1", "name": "read_file", "parameters": {}}})
    ack = peer.expect(lambda m: m.get("id") == 77 and "result" in m)
    result = peer.expect_method("tool/invokeResult")
    assert ack["result"] == {}
    assert result["params"]["toolCallId"] == "call-1"
    assert result["params"]["success"] is False and "not available" in result["params"]["errorMessage"]


def test_pushes_for_unknown_request_ids_are_dropped(peer, conn):
    stream = open_stream(conn, "mine")
    peer.send(answer("someone-else", "stray", 1))
    peer.send(answer("mine", "own", 2))
    peer.send(finish("mine", 3))
    assert list(stream) == ["own"]


@pytest.mark.parametrize("reply", [
    {"result": {"requestId": "r1", "isSuccess": False, "errorCode": "E1", "errorMessage": "bad ask"}},
    {"result": {"success": False, "errorMessage": "bad ask"}},
    {"error": {"code": -32602, "message": "bad ask"}},
])
def test_a_failing_ask_reply_fails_the_stream_at_once(peer, conn, reply):
    stream = open_stream(conn)
    stream.ask_rpc_id = conn.request_nowait("chat/ask", {"requestId": "r1"}, on_reply=conn.ask_reply_hook(stream))
    ask = peer.expect_method("chat/ask")
    peer.send({"jsonrpc": "2.0", "id": ask["id"], **reply})
    with pytest.raises(LingmaUpstreamError, match="bad ask"):
        list(stream)
    assert conn.streams == {}


def test_a_successful_ask_reply_changes_nothing(peer, conn):
    stream = open_stream(conn)
    conn.request_nowait("chat/ask", {"requestId": "r1"}, on_reply=conn.ask_reply_hook(stream))
    ask = peer.expect_method("chat/ask")
    peer.send({"jsonrpc": "2.0", "id": ask["id"], "result": {"isSuccess": True, "errorMessage": ""}})
    peer.send(answer("r1", "fine", 1))
    peer.send(finish("r1", 2))
    assert list(stream) == ["fine"]


def test_http_proxy_settings_cannot_reroute_loopback(peer, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    c = RpcConnection(peer.port).connect()
    try:
        t, box = call_async(c.request, "hello", {}, timeout=5)
        m = peer.expect_method("hello")
        peer.send({"jsonrpc": "2.0", "id": m["id"], "result": 1})
        t.join(5)
        assert box["result"] == 1
    finally:
        c.close()


class GatedSocket:
    """A socket wrapper that counts writes (`send`, `sendall`) and can hold the first one until
    let go."""

    def __init__(self, sock):
        self._sock = sock
        self.writes = 0
        self.inside = threading.Event()
        self.gate = threading.Event()

    def _enter(self):
        self.writes += 1
        self.inside.set()
        self.gate.wait(10)

    def send(self, data):
        self._enter()
        return self._sock.send(data)

    def sendall(self, data):
        self._enter()
        return self._sock.sendall(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def test_messages_queued_during_a_write_share_the_next_one_and_keep_their_order(peer, monkeypatch):
    from lingma_flask.lingma import wsframes
    real_open = wsframes.open_websocket
    opened = []

    def gated_open(*args, **kwargs):
        opened.append(GatedSocket(real_open(*args, **kwargs)))
        return opened[-1]
    monkeypatch.setattr(wsframes, "open_websocket", gated_open)
    conn = RpcConnection(peer.port, name="outbox").connect()
    sock = opened[0]
    try:
        conn.notify("first", {})
        assert sock.inside.wait(5)  # the writer is in its write: the next ones wait in the outbox
        for n in range(5):
            conn.notify("note", {"n": n})
        sock.gate.set()
        assert peer.expect_method("first")["method"] == "first"
        assert [peer.expect_method("note")["params"]["n"] for _ in range(5)] == [0, 1, 2, 3, 4]
        assert sock.writes == 2
    finally:
        sock.gate.set()
        conn.close()


@pytest.fixture
def writerless(peer, monkeypatch):
    """A connection whose writer never runs: what is sent stays in the outbox."""
    monkeypatch.setattr(RpcConnection, "_write_loop", lambda self, sock: None)
    conn = RpcConnection(peer.port, name="writerless").connect()
    yield conn
    conn.close()


def test_close_sends_what_is_still_queued(peer, writerless):
    writerless.notify("last words", {})
    assert len(writerless._outbox) == 1
    writerless.close()
    assert peer.expect_method("last words", timeout=5)["method"] == "last words"


def test_a_stuck_outbox_refuses_instead_of_growing(writerless, monkeypatch):
    from lingma_flask.lingma import rpc
    monkeypatch.setattr(rpc, "MAX_OUTBOX", 1024)
    writerless.notify("small", {"text": "x" * 10})
    with pytest.raises(LingmaConnectionError, match="not reading"):
        for _ in range(200):
            writerless.notify("more", {"text": "y" * 100})
    assert writerless._outbox_bytes <= 1024


class _CountingTime:
    """`time` for the rpc module, counting the reader's `sleep(0)` yields."""

    def __init__(self):
        self.yields = 0

    def sleep(self, seconds):
        if seconds == 0:
            self.yields += 1
        time.sleep(seconds)

    def __getattr__(self, name):
        return getattr(time, name)


def test_answers_split_over_many_reads_arrive_whole_and_each_read_yields(peer, monkeypatch):
    from lingma_flask.lingma import rpc
    monkeypatch.setattr(rpc, "READ_BLOCK", 64)  # the peer's frames take many reads
    clock = _CountingTime()
    monkeypatch.setattr(rpc, "time", clock)
    conn = RpcConnection(peer.port, name="small-reads").connect()
    try:
        stream = open_stream(conn)
        texts = [f"第{n}段 " + "x" * n for n in range(40)]
        peer.send_bytes(b"".join(framing.encode(answer("r1", t, n)) for n, t in enumerate(texts))
                        + framing.encode(finish("r1", 99)), text=True)
        assert "".join(stream) == "".join(texts)
        assert clock.yields >= 2
    finally:
        conn.close()
