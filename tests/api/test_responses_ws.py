"""The Responses WebSocket in-process: the handshake's refusals and checks, the SSE-to-message
conversion, and the WebSocket connection itself over a socket pair (a wsproto client on the
other end). The whole route against real gunicorn is tests/integration/test_responses_ws.py."""

from __future__ import annotations

import json
import socket
import time

import pytest
from wsproto.connection import Connection
from wsproto.connection import ConnectionType
from wsproto.events import BytesMessage
from wsproto.events import CloseConnection
from wsproto.events import Ping
from wsproto.events import Pong
from wsproto.events import TextMessage

from lingma_flask.api.responses_store import ResponseStore
from lingma_flask.api.responses_ws import error_message
from lingma_flask.api.responses_ws import sse_messages
from lingma_flask.pipeline.conversation import Turn
from lingma_flask.web import websocket
from lingma_flask.web.errors import ApiError

HANDSHAKE = {"Upgrade": "websocket", "Connection": "keep-alive, Upgrade",
             "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


# -- the route in the test client (which hands no socket over) --------------------------------

@pytest.mark.parametrize("path", ["/v1/responses", "/responses"])
def test_a_plain_get_is_told_to_upgrade_or_post(client, path):
    resp = client.get(path)
    assert resp.status_code == 426
    assert resp.headers["Upgrade"] == "websocket"
    error = resp.get_json()["error"]
    assert error["code"] == "upgrade_required" and "POST /v1/responses" in error["message"]


def test_an_upgrade_without_a_socket_to_take_is_refused_with_426(client):
    resp = client.get("/v1/responses", headers=HANDSHAKE)
    assert resp.status_code == 426
    assert "gunicorn" in resp.get_json()["error"]["message"]


def test_the_upgrade_needs_the_api_key_like_any_request(make_app):
    client = make_app(API_KEYS=["key-one"]).test_client()
    resp = client.get("/v1/responses", headers=HANDSHAKE)
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "invalid_api_key"
    ok = client.get("/v1/responses", headers={**HANDSHAKE, "Authorization": "Bearer key-one"})
    assert ok.status_code == 426   # past the key: only the missing socket stops it here


def test_post_still_answers_over_http(client):
    resp = client.post("/v1/responses", json={"model": "auto", "input": "hi"})
    assert resp.status_code == 200 and resp.get_json()["object"] == "response"


# -- the handshake ------------------------------------------------------------------------------

def environ(**headers) -> dict:
    env = {"REQUEST_METHOD": "GET"}
    env.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in {**HANDSHAKE, **headers}.items()})
    return env


def test_the_accept_token_is_rfc_6455s():
    assert websocket.accept_token(environ()) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="   # RFC 6455 1.3


@pytest.mark.parametrize("headers, status", [
    ({"Sec-WebSocket-Key": "short"}, 400),
    ({"Sec-WebSocket-Key": "not base64 at all!!"}, 400),
    ({"Connection": "keep-alive"}, 400),
    ({"Sec-WebSocket-Version": "8"}, 426),
])
def test_a_malformed_handshake_is_refused(headers, status):
    with pytest.raises(ApiError) as caught:
        websocket.accept_token(environ(**headers))
    assert caught.value.status == status
    if status == 426:
        assert caught.value.headers["Sec-WebSocket-Version"] == "13"


def test_the_101_carries_our_headers_but_never_a_line_break():
    raw = websocket.handshake_response("abc=", {"x-request-id": "req_1", "x-bad": "a\r\nb: c"})
    assert raw.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Sec-WebSocket-Accept: abc=\r\n" in raw and b"x-request-id: req_1\r\n" in raw
    assert b"x-bad" not in raw and raw.endswith(b"\r\n\r\n")


# -- what the socket says -----------------------------------------------------------------------

def test_sse_frames_become_one_message_per_event_without_comments():
    frames = (b'event: response.created\ndata: {"type":"response.created","sequence_number":0}\n\n'
              b": keepalive\n\n"
              b'event: response.in_progress\ndata: {"type":"response.in_progress","x":"a\\nb"}\n\n')
    assert sse_messages(frames) == ['{"type":"response.created","sequence_number":0}',
                                    '{"type":"response.in_progress","x":"a\\nb"}']
    [tagged] = sse_messages(b'data: {"type":"response.created"}\n\n', "lane-1")
    assert json.loads(tagged) == {"stream_id": "lane-1", "type": "response.created"}


def test_a_refused_request_is_one_error_message_with_status_and_retry_advice():
    message = json.loads(error_message(ApiError(429, "Busy.", code="lingma_busy"), "lane"))
    assert message["type"] == "error" and message["status"] == 429 and message["stream_id"] == "lane"
    assert message["error"]["code"] == "rate_limit_exceeded"   # the Responses face's name for it
    assert message["headers"]["x-should-retry"] == "true"
    assert message["error"]["headers"] == message["headers"]


def test_a_discarded_response_is_gone_and_its_bytes_freed():
    store = ResponseStore()
    turns = (Turn("user", "hello"),)
    store.put("resp_1", turns, "owner")
    assert store.lookup("resp_1", "owner") == turns and store.bytes > 0
    store.discard("resp_1")
    store.discard("resp_1")   # twice: nothing to do
    assert store.lookup("resp_1", "owner") is None and store.bytes == 0


# -- the connection over a socket pair ------------------------------------------------------------

class FakeWatchdog:
    """Holds the armed watches; a test calls their `check` with the clock it wants."""

    def __init__(self):
        self.armed: list = []

    def arm(self, watch):
        self.armed.append(watch)

    def disarm(self, watch):
        if watch in self.armed:
            self.armed.remove(watch)


class Peer:
    """The client's end: a wsproto client connection over the other socket."""

    def __init__(self, sock):
        self.sock, self.conn = sock, Connection(ConnectionType.CLIENT)
        sock.settimeout(10)

    def send(self, event):
        self.sock.sendall(self.conn.send(event))

    def until(self, kind, deadline: float = 10.0):
        """Read until an event of `kind` arrives; return it."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            for event in self.conn.events():
                if isinstance(event, kind):
                    return event
            data = self.sock.recv(65536)
            self.conn.receive_data(data or None)
        raise AssertionError(f"no {kind.__name__} in time")


@pytest.fixture
def pair():
    server, client = socket.socketpair()
    watchdog = FakeWatchdog()
    ws = websocket.WebSocket(server, max_message=100, message_timeout=5.0, write_timeout=5.0,
                             watchdog=watchdog)
    yield ws, Peer(client), watchdog
    client.close()  # first: the close then ends at once, not waiting for the client's close frame
    ws.close()
    server.close()


def test_messages_go_both_ways_whole(pair):
    ws, peer, _ = pair
    peer.send(TextMessage(data="hel", message_finished=False))
    peer.send(TextMessage(data="lo ✓"))
    assert ws.receive(10) == "hello ✓"
    ws.send(['{"a":1}', '{"b":2}'])
    assert peer.until(TextMessage).data == '{"a":1}'
    assert peer.until(TextMessage).data == '{"b":2}'


def test_nothing_received_is_none_and_a_ping_is_answered(pair):
    ws, peer, _ = pair
    assert ws.receive(0.01) is None
    peer.send(Ping(payload=b"hi"))
    assert peer.until(Pong).payload == b"hi"


def test_the_clients_close_is_answered_and_ends_the_connection(pair):
    ws, peer, watchdog = pair
    peer.send(CloseConnection(code=1000))
    ended = ws.receive(10)
    assert isinstance(ended, websocket.Closed) and ended.code == 1000
    assert peer.until(CloseConnection).code == 1000
    assert watchdog.armed == []    # nothing left for the watchdog to time
    with pytest.raises(ConnectionError):
        ws.send(["too late"])


@pytest.mark.parametrize("sending, code", [
    ([TextMessage(data="x" * 101)], websocket.TOO_BIG),
    ([TextMessage(data="é" * 60)], websocket.TOO_BIG),   # 60 characters, 120 bytes
    ([BytesMessage(data=b"\x00")], websocket.UNSUPPORTED),
    ([TextMessage(data="m")] * (websocket.MAX_PENDING + 1), websocket.POLICY),
])
def test_what_a_connection_will_not_take_closes_it(pair, sending, code):
    ws, peer, _ = pair
    for event in sending:
        peer.send(event)
    assert peer.until(CloseConnection).code == code
    assert ws.close_code == code and code in websocket.REFUSALS


def test_a_message_still_incomplete_at_its_deadline_ends_the_connection(pair):
    ws, peer, watchdog = pair
    [deadline] = [w for w in watchdog.armed if isinstance(w, websocket._MessageDeadline)]
    assert deadline.check(time.monotonic() + 60) is False   # nothing is being received
    peer.send(TextMessage(data="par", message_finished=False))
    end = time.monotonic() + 10
    while ws.partial_since is None and time.monotonic() < end:
        time.sleep(0.01)   # polling the reader thread's state, not timing anything
    assert deadline.check(time.monotonic()) is False
    assert deadline.check(time.monotonic() + 6) is True
    assert isinstance(ws.receive(10), websocket.Closed)


def test_a_write_that_makes_no_progress_is_timed_by_the_guard(pair):
    ws, _, watchdog = pair
    assert ws.guard in watchdog.armed and ws.guard.writing_since is None
    ws.send(["fine"])
    assert ws.guard.writing_since is None   # done: nothing pending to time
