"""The Responses API over a WebSocket (GET /v1/responses upgrade) against real gunicorn + gevent
+ the simulator: the openai SDK's `responses.connect()`, a raw client for the limits, and
Codex CLI with `responses_websockets` on (and behind a proxy that drops the upgrade)."""

from __future__ import annotations

import base64
import json
import time

import openai
import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.integration.agents import codex_binary
from tests.integration.agents import run_codex
from tests.integration.gateway import API_KEY
from tests.integration.gateway import Gateway

# openai 3.57.0 opens its socket with websockets' connect() outside a `with`, which websockets
# 17 deprecates (the first send warns); harmless, and not ours to fix
pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings(
    "ignore:connect\\(\\) must be used as a context manager:DeprecationWarning")]
ENDS = ("response.completed", "response.failed", "response.incomplete", "error")


def ws_url(gateway) -> str:
    return gateway.url.replace("http://", "ws://") + "/v1/responses"


@pytest.fixture
def sdk(gateway):
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=API_KEY, max_retries=0,
                       timeout=60) as client:
        yield client


def one_response(conn) -> list:
    """The events of the next response (or its one error) on an SDK connection."""
    events = []
    for event in conn:
        events.append(event)
        if event.type in ENDS:
            return events
    raise AssertionError("the connection ended before the response did")


def answer_shape(events) -> list[str]:
    """The event types of a response without its keepalives: a repeated `response.in_progress`
    comes whenever Lingma is quiet for LINGMA_SSE_KEEPALIVE, which a busy machine makes happen
    on one transport and not the other."""
    types = [e.type for e in events]
    first = types.index("response.in_progress") if "response.in_progress" in types else -1
    return [t for i, t in enumerate(types) if t != "response.in_progress" or i == first]


def requests_logged(gateway, since: int) -> list[dict]:
    """The request lines the gateway logged after its first `since` output lines."""
    found = []
    for line in gateway.lines[since:]:
        start = line.find("{")
        record = json.loads(line[start:]) if start >= 0 else {}
        if record.get("logger") == "lingma_flask.requests":
            found.append(record)
    return found


def poll(condition, timeout: float = 30.0):
    """Return condition()'s first truthy value, checking until the deadline."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


# -- the openai SDK ------------------------------------------------------------------------------

def test_the_socket_streams_the_same_events_as_sse(client, sdk):
    over_http = list(client.responses.create(model="auto", input="same events", stream=True))
    with sdk.responses.connect() as conn:
        conn.response.create(model="auto", input="same events")
        over_socket = one_response(conn)
    assert answer_shape(over_socket) == answer_shape(over_http)
    assert [e.sequence_number for e in over_socket] == list(range(len(over_socket)))
    assert over_socket[-1].response.output_text == over_http[-1].response.output_text \
        == "You said: same events"


def test_previous_response_id_holds_across_the_connection_even_unstored(sdk):
    with sdk.responses.connect() as conn:
        conn.response.create(model="auto", input="the word is PELICAN", store=False)
        first = one_response(conn)[-1].response
        conn.response.create(model="auto", input="what was it? [[sim:echo=full]]",
                             previous_response_id=first.id, store=False)
        second = one_response(conn)[-1]
        assert second.type == "response.completed"
        assert "the word is PELICAN" in second.response.output_text   # the earlier turn was sent
    with sdk.responses.connect() as other:   # unstored: no other connection can continue it
        other.response.create(model="auto", input="again", previous_response_id=first.id)
        [refused] = one_response(other)
        assert refused.type == "error" and refused.status == 400
        assert refused.error.code == "previous_response_not_found"
        other.response.create(model="auto", input="still here")   # the connection stays usable
        assert one_response(other)[-1].response.output_text == "You said: still here"


def test_a_stored_response_is_continued_over_http_too(client, sdk):
    with sdk.responses.connect() as conn:
        conn.response.create(model="auto", input="stored over the socket")
        first = one_response(conn)[-1].response
    later = client.responses.create(model="auto", input="go on [[sim:echo=full]]",
                                    previous_response_id=first.id)
    assert "stored over the socket" in later.output_text


def test_generate_false_records_the_input_for_the_next_request(sdk):
    with sdk.responses.connect() as conn:
        conn.response.create(model="auto", input=[{"role": "developer", "content": "Be brief."},
                                                  {"role": "user", "content": "warm LYNX"}],
                             generate=False, store=False)
        warm = one_response(conn)
        assert [e.type for e in warm] == ["response.created", "response.in_progress",
                                          "response.completed"]
        assert warm[-1].response.output == []
        conn.response.create(model="auto", input=[], previous_response_id=warm[-1].response.id,
                             instructions="[[sim:echo=full]]", store=False)
        answer = one_response(conn)[-1]
        assert answer.type == "response.completed" and "warm LYNX" in answer.response.output_text


def test_a_request_refused_before_it_starts_leaves_the_connection_open(sdk, gateway):
    since = len(gateway.lines)
    with sdk.responses.connect() as conn:
        conn.response.create(model="no-such-model-here", input="x", stream_id="lane-7")
        [refused] = one_response(conn)
        assert (refused.status, refused.error.code, refused.stream_id) == \
            (404, "model_not_found", "lane-7")
        conn.response.create(model="auto", input="after the error", stream_id="lane-7")
        events = one_response(conn)
        assert {e.stream_id for e in events} == {"lane-7"}
        assert events[-1].response.output_text == "You said: after the error"
    lines = poll(lambda: [r for r in requests_logged(gateway, since) if r["status"] == 101])
    assert lines[0]["method"] == "GET" and lines[0]["error"] is None
    answered = [r for r in requests_logged(gateway, since) if r["method"] == "WS"]
    assert [(r["status"], r["error"]) for r in answered] == [(404, "model_not_found"), (200, None)]


def test_keepalives_are_events_while_lingma_is_quiet(sdk):
    with sdk.responses.connect() as conn:
        conn.response.create(model="auto", input="slow start [[sim:ttft=2.5]]")
        events = one_response(conn)
    first_delta = next(i for i, e in enumerate(events) if e.type == "response.output_text.delta")
    assert sum(e.type == "response.in_progress" for e in events[:first_delta]) >= 3
    assert events[-1].response.output_text == "You said: slow start"


# -- a raw client: the handshake and the limits ------------------------------------------------------

def test_the_upgrade_needs_the_api_key(gateway):
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(gateway), additional_headers={"Authorization": "Bearer wrong"})
    assert refused.value.response.status_code == 401


def test_a_plain_get_says_upgrade_or_post(gateway):
    resp = requests.get(gateway.url + "/v1/responses",
                        headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)
    assert resp.status_code == 426 and resp.headers["Upgrade"] == "websocket"
    assert resp.json()["error"]["code"] == "upgrade_required"


def test_a_message_over_the_body_limit_closes_the_connection(gateway):
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with connect(ws_url(gateway), additional_headers=headers, max_size=None) as ws:
        ws.send(json.dumps({"type": "response.create", "input": "x" * (2 * 1024 * 1024)}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
    assert closed.value.rcvd.code == 1009


def test_a_client_that_leaves_mid_answer_cancels_the_chat(gateway):
    since = len(gateway.lines)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with connect(ws_url(gateway), additional_headers=headers) as ws:
        ws.send(json.dumps({"type": "response.create", "model": "auto",
                            "input": "long [[sim:chunks=100]] [[sim:delay=0.2]]"}))
        while json.loads(ws.recv(timeout=30))["type"] != "response.output_text.delta":
            pass
    line = poll(lambda: [r for r in requests_logged(gateway, since) if r["method"] == "WS"])
    assert line[0]["error"] == "client_disconnected"


def test_an_unknown_message_type_is_an_error_message(gateway):
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with connect(ws_url(gateway), additional_headers=headers) as ws:
        ws.send(json.dumps({"type": "response.cancel"}))
        refused = json.loads(ws.recv(timeout=30))
        ws.send("{not json")
        garbled = json.loads(ws.recv(timeout=30))
    assert (refused["type"], refused["status"], refused["error"]["param"]) == ("error", 400, "type")
    assert garbled["status"] == 400 and garbled["error"]["code"] == "invalid_json"


# -- Codex CLI ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def codex():
    return codex_binary()


def test_codex_runs_a_tool_loop_over_the_socket(codex, gateway, tmp_path):
    since = len(gateway.lines)
    args = base64.urlsafe_b64encode(json.dumps({"cmd": "cat secret.txt"}).encode()).decode()
    result = run_codex(codex, tmp_path, gateway.url + "/v1", API_KEY,
                       f"read it [[sim:tool=exec_command,tool_args={args.rstrip('=')}]]",
                       websockets=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "SECRET-CONTENT-42" in result.last_message
    assert "Falling back" not in result.stdout
    lines = poll(lambda: [r for r in requests_logged(gateway, since) if r["status"] == 101])
    answered = [r for r in requests_logged(gateway, since) if r["method"] == "WS"]
    assert len(lines) == 1   # one connection for the turn: warm-up, the call, the answer
    assert [r["finish_reason"] for r in answered] == ["stop", "tool_calls", "stop"]
    assert not [r for r in requests_logged(gateway, since) if r["method"] == "POST"]


def test_codex_falls_back_to_http_at_once_when_a_proxy_drops_the_upgrade(codex, tmp_path):
    gw = Gateway(tmp_path / "gw", wsgi="tests.integration.upgrade_stripped_app:app").start()
    try:
        result = run_codex(codex, tmp_path, gw.url + "/v1", API_KEY, "hello codex",
                           websockets=True)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.last_message == "You said: hello codex"
        assert "Falling back" not in result.stdout and "Reconnecting" not in result.stdout
        logged = poll(lambda: [r for r in requests_logged(gw, 0) if r["method"] == "POST"])
        refused = [r for r in requests_logged(gw, 0) if r["status"] == 426]
        assert len(refused) == 1 and len(logged) == 1
    finally:
        gw.stop()
