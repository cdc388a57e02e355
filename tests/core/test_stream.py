"""ChatStream: deadlines, cancel, finish records and errors, cleanup on every exit path."""

import time

import pytest

from lingma_flask.lingma import errors
from lingma_flask.lingma import framing
from lingma_flask.lingma.instance import wait_until
from lingma_flask.lingma.stream import Deadlines
from tests.core.test_rpc import answer
from tests.core.test_rpc import finish
from tests.core.test_rpc import open_stream


def stop_of(peer, rid):
    stop = peer.expect_method("chat/stop")
    assert stop["params"] == {"requestId": rid, "sessionId": "s1"}
    return stop


@pytest.mark.parametrize("phase,deadlines,pushes", [
    ("first_token", Deadlines(first_token=0.3, idle=30, total=30), []),
    ("idle", Deadlines(first_token=30, idle=0.3, total=30), ["a"]),
    ("total", Deadlines(first_token=30, idle=30, total=0.5), ["a"]),
])
def test_each_deadline_raises_its_phase_sends_stop_and_cleans_up(peer, conn, phase, deadlines, pushes):
    stream = open_stream(conn, deadlines=deadlines)
    for i, text in enumerate(pushes):
        peer.send(answer("r1", text, i + 1))
    with pytest.raises(errors.LingmaTimeoutError) as info:
        list(stream)
    assert info.value.phase == phase
    stop_of(peer, "r1")
    assert conn.streams == {}
    assert stream.done


def test_timeouts_are_not_the_rpc_timeout(peer, conn):
    stream = open_stream(conn, deadlines=Deadlines(first_token=2, idle=2, total=2))
    peer.send(answer("r1", "late but fine", 1))
    peer.send(finish("r1", 2))
    assert list(stream) == ["late but fine"]


def test_cancel_sends_stop_and_ends_locally_whatever_lingma_does(peer, conn):
    stream = open_stream(conn)
    peer.send(answer("r1", "partial", 1))
    it = iter(stream)
    assert next(it) == "partial"
    started = time.monotonic()
    stream.cancel("client left")
    assert list(it) == []
    assert time.monotonic() - started < 2
    stop_of(peer, "r1")
    assert conn.streams == {}


def test_consumer_gone_mid_stream_sends_stop_and_unregisters(peer, conn):
    stream = open_stream(conn)
    peer.send(answer("r1", "x", 1))
    gen = stream.events(0.1)
    assert next(gen) == "x"
    gen.close()  # what a WSGI server does when the client disconnects
    stop_of(peer, "r1")
    assert conn.streams == {}


def test_close_after_finish_sends_no_stop(peer, conn):
    stream = open_stream(conn)
    peer.send(answer("r1", "done", 1))
    peer.send(finish("r1", 2))
    assert list(stream) == ["done"]
    stream.close()
    peer.send({"jsonrpc": "2.0", "id": 99, "method": "ping", "params": {}})
    follow = peer.expect(lambda m: m.get("method") == "chat/stop" or m.get("id") == 99)
    assert follow.get("id") == 99  # the ack came, no chat/stop before it


def test_events_tick_while_waiting(peer, conn):
    stream = open_stream(conn)
    gen = stream.events(0.05)
    assert next(gen) is None and next(gen) is None
    peer.send(answer("r1", "now", 1))
    items = []
    while "now" not in items:
        items.append(next(gen))
    peer.send(finish("r1", 2))
    assert [i for i in gen if i is not None] == []


def test_finish_record_keeps_latencies_and_reason(peer, conn):
    stream = open_stream(conn)
    peer.send(answer("r1", "a", 1))
    peer.send(finish("r1", 2, full="a", reason="success"))
    assert list(stream) == ["a"]
    record = stream.finish
    assert record.status_code == 200 and record.reason == "success" and record.full_answer == "a"
    assert record.first_token_ms is not None and record.total_ms >= record.first_token_ms


def test_full_answer_is_used_when_no_chunk_arrived(peer, conn):
    stream = open_stream(conn)
    peer.send(finish("r1", 1, full="only in finish"))
    assert list(stream) == ["only in finish"]
    assert stream.text == "only in finish"


@pytest.mark.parametrize("status,reason,error_type,kind", [
    (401, "not login", errors.LingmaNotLoggedInError, "lingma_not_logged_in"),
    (429, "too many requests", errors.LingmaRateLimitError, "rate_limit_exceeded"),
    (429, "quota exhausted", errors.LingmaQuotaError, "insufficient_quota"),
    (403, "quota exhausted for today", errors.LingmaQuotaError, "insufficient_quota"),
    (403, "forbidden", errors.LingmaForbiddenError, "lingma_forbidden"),
    (406, "content blocked", errors.LingmaContentFilterError, "content_filter"),
    (601, "sensitive", errors.LingmaContentFilterError, "content_filter"),
    (408, "timeout", errors.LingmaTimeoutError, "lingma_timeout"),
    (500, "internal error", errors.LingmaUpstreamError, "lingma_upstream_error"),
    (40505, "model unavailable", errors.LingmaUpstreamError, "lingma_upstream_error"),
    (0, "", errors.LingmaUpstreamError, "lingma_upstream_error"),
])
def test_non_200_finish_becomes_a_typed_error_with_the_reason(peer, conn, status, reason, error_type, kind):
    stream = open_stream(conn)
    peer.send(finish("r1", 1, status=status, reason=reason))
    with pytest.raises(error_type) as info:
        list(stream)
    assert info.value.kind == kind
    assert reason in info.value.message and str(status) in info.value.message
    assert conn.streams == {}


def test_overwrite_replaces_the_text(peer, conn):
    stream = open_stream(conn)
    peer.send(answer("r1", "Hello", 1))
    peer.send({"jsonrpc": "2.0", "id": 2, "method": "chat/answer",
               "params": {"requestId": "r1", "text": "Hello world", "overwrite": True}})
    peer.send(finish("r1", 3))
    assert list(stream) == ["Hello", " world"]
    assert stream.text == "Hello world"


def test_coalesce_joins_only_chunks_already_waiting(peer, conn):
    stream = open_stream(conn)
    blob = b"".join(framing.encode(answer("r1", t, i + 1)) for i, t in enumerate(["a", "b", "c"]))
    peer.send_bytes(blob + framing.encode(finish("r1", 9)), text=True)
    assert wait_until(lambda: stream._queue.qsize() == 4, 5)
    assert list(stream.events(None, coalesce=True)) == ["abc"]
    assert stream.finish.status_code == 200 and stream.text == "abc"


def test_coalesce_never_waits_for_more_text(peer, conn):
    stream = open_stream(conn)
    gen = stream.events(0.05, coalesce=True)
    peer.send(answer("r1", "first", 1))
    item = next(gen)
    while item is None:
        item = next(gen)
    assert item == "first"
    peer.send(answer("r1", "second", 2))
    peer.send(finish("r1", 3))
    assert [i for i in gen if i is not None] == ["second"]


def test_a_finish_without_status_code_is_success(peer, conn):
    stream = open_stream(conn)
    peer.send(answer("r1", "old build", 1))
    peer.send({"jsonrpc": "2.0", "id": 2, "method": "chat/finish",
               "params": {"requestId": "r1", "sessionId": "s", "reason": ""}})
    assert list(stream) == ["old build"]


def test_pushes_sent_as_notifications_are_routed_too(peer, conn):
    stream = open_stream(conn)
    peer.send({"jsonrpc": "2.0", "method": "chat/answer", "params": {"requestId": "r1", "content": "via content"}})
    peer.send({"jsonrpc": "2.0", "method": "chat/finish", "params": {"requestId": "r1", "statusCode": "200"}})
    assert list(stream) == ["via content"]


def test_think_fences_in_answer_text_stay_out_of_the_answer(peer, conn):
    stream = open_stream(conn)
    text = "\n```think::{THINK_TIME}\nweighing options\n```\nFinal answer."
    for i in range(0, len(text), 4):
        peer.send(answer("r1", text[i:i + 4], i + 1))
    peer.send(finish("r1", 999, full=text))
    assert "".join(stream) == "Final answer."
    assert stream.reasoning == "weighing options" and stream.text == "Final answer."


def test_chat_think_pushes_become_reasoning(peer, conn):
    stream = open_stream(conn)
    peer.send({"jsonrpc": "2.0", "id": 1, "method": "chat/think",
               "params": {"requestId": "r1", "text": "hmm", "step": "start"}})
    peer.send(answer("r1", "ok", 2))
    peer.send(finish("r1", 3))
    assert list(stream) == ["ok"] and stream.reasoning == "hmm"


def test_full_answer_fallback_also_drops_think_fences(peer, conn):
    stream = open_stream(conn)
    peer.send(finish("r1", 1, full="```think::x\nprivate\n```\nvisible"))
    assert list(stream) == ["visible"] and stream.reasoning == "private"


def test_a_megabyte_in_tiny_chunks_is_linear_not_quadratic():
    from lingma_flask.lingma.stream import ChatStream
    stream = ChatStream("r", "s", None, max_buffer=64 * 1024 * 1024)
    for _ in range(65536):
        stream.push_answer({"text": "abcd"})
    stream.push_finish({"statusCode": 200})
    assert sum(len(chunk) for chunk in stream) == 262144 and len(stream.text) == 262144
