"""The edge's defences: bounded bodies, body deadlines, bad text, Host/Origin/CORS, strict config."""

import io
import socket
import threading

import pytest

from lingma_flask import create_app
from lingma_flask.web import body
from lingma_flask.web.connection import client_gone
from lingma_flask.web.connection import read_body
from lingma_flask.web.errors import ApiError

URL = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]


def post_raw(client, data: bytes, **kwargs):
    return client.post(URL, data=data, content_type="application/json", **kwargs)


@pytest.mark.parametrize("raw, words", [
    (b'{"messages": [' + b"5," * 1_000_001 + b"5]}", "more than 1000000 items"),
    (b'{"messages": [' + b"[]," * 200_001 + b"[]]}", "more than 200000 objects and arrays"),
    (b'{"messages": ' + b"[" * 65 + b"]" * 65 + b"}", "deeper than 64 levels"),
    (b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "deeper than 64 levels"),
    (b'{"x": [' + b'"",' * 500_001 + b'""]}', "more than 500000 strings"),
    (b'{"messages": [], "messages": []}', "duplicate key 'messages'"),
    (b'{"temperature": NaN}', "NaN is not valid JSON"),
    (b'{"a": Infinity}', "Infinity is not valid JSON"),
], ids=["items", "containers", "depth-65", "depth-100k", "strings", "duplicate", "nan", "infinity"])
def test_hostile_bodies_are_refused_before_decoding(client, pool, raw, words):
    resp = post_raw(client, raw)
    assert resp.status_code == 400, resp.get_data(as_text=True)[:200]
    err = resp.get_json()["error"]
    assert err["code"] == "invalid_json" and words in err["message"]
    assert not pool.asks


def test_structure_inside_strings_does_not_count():
    text = "{[" * 300_000 + "\\\"" * 1000
    raw = ('{"messages": [{"role": "user", "content": "' + text + '"}]}').encode()
    assert body.decode_json(raw)["messages"][0]["content"].startswith("{[{[")


def test_nesting_at_the_limit_is_fine():
    raw = b'{"a": ' + b"[" * 63 + b"]" * 63 + b"}"
    value = body.decode_json(raw)["a"]
    for _ in range(62):
        value = value[0]
    assert value == []


@pytest.mark.parametrize("field", ["content", "model", "name"])
def test_lone_surrogates_are_replaced_never_a_500(client, pool, request_log, field):
    message = {"role": "user", "content": "hi"}
    payload = {"model": "qwen3-coder", "messages": [message]}
    if field == "model":
        raw = post_raw(client, b'{"model": "qwen\\ud800", "messages": [{"role": "user", "content": "x"}]}')
        assert raw.status_code == 404 and "\ufffd" in raw.get_json()["error"]["message"]
    else:
        key = b'"content": "a\\udc00b"' if field == "content" else b'"content": "x", "name": "\\ud83d"'
        raw = post_raw(client, b'{"model": "qwen3-coder", "messages": [{"role": "user", ' + key + b"}]}")
        assert raw.status_code == 200, raw.get_data(as_text=True)
    assert payload and request_log()[-1]["status"] in (200, 404)
    if field == "content":
        assert pool.asks[-1][0] == "a\ufffdb"
    assert all(s.close_calls >= 1 for s in pool.streams)


@pytest.mark.parametrize("fields", [
    {"stream": "yes"}, {"n": "1"}, {"max_tokens": True}, {"model": ""}, {"stream": 1},
])
def test_loose_types_are_400(client, pool, fields):
    resp = client.post(URL, json={"messages": HI, **fields})
    assert resp.status_code == 400 and resp.get_json()["error"]["param"] == next(iter(fields))
    assert not pool.asks


def test_long_fields_are_capped_in_the_log_line(client, request_log):
    client.post(URL, json={"model": "m" * 250, "messages": HI}, headers={"x-request-id": "r" * 100})
    line = request_log()[-1]
    assert line["status"] == 404 and line["model"] == "m" * 197 + "..."
    resp = client.get("/v1/models/" + "x" * 3000)
    assert resp.status_code == 404 and len(request_log()[-1]["route"]) <= 200


# -- the body reader ----------------------------------------------------------------

def environ(data: bytes, length=None, chunked=False, sock=None, stream=None):
    env = {"wsgi.input": stream or io.BytesIO(data), "CONTENT_LENGTH": "" if length is None else str(length)}
    if chunked:
        env["HTTP_TRANSFER_ENCODING"] = "chunked"
    if sock is not None:
        env["werkzeug.socket"] = sock
    return env


def test_a_chunked_body_gets_the_same_limit():
    with pytest.raises(ApiError) as info:
        read_body(environ(b"x" * 5000, chunked=True), limit=200, timeout=5)
    assert info.value.status == 413
    assert read_body(environ(b"x" * 200, chunked=True), limit=200, timeout=5) == b"x" * 200


def test_a_declared_length_over_the_limit_is_413_without_reading():
    stream = io.BytesIO(b"x" * 10)
    with pytest.raises(ApiError) as info:
        read_body(environ(b"", length=5000, stream=stream), limit=200, timeout=5)
    assert info.value.status == 413 and stream.tell() == 0


def test_no_length_and_not_chunked_is_an_empty_body():
    assert read_body(environ(b"never read"), limit=200, timeout=5) == b""


@pytest.mark.parametrize("length", ["abc", "-1", "1e3"])
def test_a_bad_content_length_is_400(length):
    with pytest.raises(ApiError) as info:
        read_body({"wsgi.input": io.BytesIO(), "CONTENT_LENGTH": length}, limit=200, timeout=5)
    assert info.value.status == 400


@pytest.fixture
def pair():
    """A connected socket pair: the server side (with a file to read) and the peer."""
    server, peer = socket.socketpair()
    stream = server.makefile("rb")
    yield server, stream, peer
    stream.close()
    server.close()
    peer.close()


def test_a_body_that_never_arrives_is_408_at_the_deadline(pair):
    server, stream, peer = pair
    peer.sendall(b'{"messa')
    env = environ(b"", length=100, sock=server, stream=stream)
    with pytest.raises(ApiError) as info:
        read_body(env, limit=1000, timeout=0.5)
    assert info.value.status == 408 and "LINGMA_BODY_TIMEOUT" in info.value.message


def test_a_slow_trickle_is_cut_at_the_total_deadline(pair):
    server, stream, peer = pair
    stop = threading.Event()

    def trickle():
        while not stop.wait(0.1):
            try:
                peer.sendall(b" ")
            except OSError:
                return
    thread = threading.Thread(target=trickle)
    thread.start()
    try:
        env = environ(b"", length=10_000, sock=server, stream=stream)
        with pytest.raises(ApiError) as info:
            read_body(env, limit=100_000, timeout=0.8)
        assert info.value.status == 408
    finally:
        stop.set()
        thread.join()


def test_client_gone_sees_a_closed_peer_but_not_a_live_one():
    server, peer = socket.socketpair()
    assert client_gone(server) is False
    peer.sendall(b"GET / HTTP/1.1\r\n")  # a pipelined request is not a hang-up
    assert client_gone(server) is False
    peer.close()
    server.recv(100)
    assert client_gone(server) is True
    server.close()
    assert client_gone(None) is False


# -- who may call -------------------------------------------------------------------

@pytest.mark.parametrize("host, served", [
    ("localhost", True), ("localhost:8000", True), ("127.0.0.1:8000", True), ("[::1]:8000", True),
    ("app.localhost", True), ("evil.example:8000", False), ("127.0.0.1.nip.io", False),
])
def test_without_keys_only_loopback_host_names(client, host, served):
    resp = client.post(URL, json={"messages": HI}, headers={"Host": host})
    assert (resp.status_code == 200) is served
    if not served:
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "host_not_allowed"


def test_with_keys_any_host_is_fine(make_app):
    client = make_app(API_KEYS="k").test_client()
    resp = client.post(URL, json={"messages": HI}, headers={"Host": "gw.example", "x-api-key": "k"})
    assert resp.status_code == 200


def test_a_foreign_origin_is_refused_even_as_text_plain(client, pool):
    resp = client.post(URL, data=b'{"messages": [{"role": "user", "content": "hi"}]}',
                       content_type="text/plain", headers={"Origin": "https://evil.example"})
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "origin_not_allowed"
    assert not pool.asks
    assert "Access-Control-Allow-Origin" not in resp.headers


def test_allowed_origins_get_cors_and_preflights(make_app):
    client = make_app(CORS_ORIGINS="https://app.example, http://localhost:3000").test_client()
    pre = client.options(URL, headers={"Origin": "https://app.example",
                                       "Access-Control-Request-Method": "POST",
                                       "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert "content-type" in pre.headers["Access-Control-Allow-Headers"]
    resp = client.post(URL, json={"messages": HI}, headers={"Origin": "http://localhost:3000"})
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "x-request-id" in resp.headers["Access-Control-Expose-Headers"]
    bad = client.options(URL, headers={"Origin": "https://evil.example",
                                       "Access-Control-Request-Method": "POST"})
    assert bad.status_code == 403


def test_the_gateways_own_origin_is_allowed(client):
    resp = client.post(URL, json={"messages": HI}, headers={"Origin": "http://localhost"})
    assert resp.status_code == 200


# -- configuration traps ------------------------------------------------------------

@pytest.mark.parametrize("value, keys", [
    ("null", ("null",)), ("1e5", ("1e5",)), ("true", ("true",)), ("[1,2]", ("[1", "2]")),
    (" a , b ", ("a", "b")),
])
def test_api_keys_are_read_as_given(monkeypatch, pool, value, keys):
    monkeypatch.setenv("LINGMA_API_KEYS", value)
    assert create_app({"LINGMA_POOL": pool}).extensions["lingma_api"].api_keys == keys


@pytest.mark.parametrize("value", ["", " ", ",", " , "])
def test_api_keys_set_to_nothing_stop_the_start(monkeypatch, pool, value):
    monkeypatch.setenv("LINGMA_API_KEYS", value)
    with pytest.raises(ValueError, match="LINGMA_API_KEYS is set but holds no key"):
        create_app({"LINGMA_POOL": pool})


@pytest.mark.parametrize("name, value, words", [
    ("LINGMA_MAX_BODY_BYTES", "lots", "LINGMA_MAX_BODY_BYTES must be a whole number"),
    ("LINGMA_POOL_SIZE", "1e5", "LINGMA_POOL_SIZE must be a whole number"),
    ("LINGMA_REASONING", "loud", "LINGMA_REASONING must be one of"),
])
def test_bad_settings_name_themselves(monkeypatch, pool, name, value, words):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=words):
        create_app({} if name == "LINGMA_POOL_SIZE" else {"LINGMA_POOL": pool})


def test_long_text_content_is_not_mistaken_for_too_many_parts(client, pool):
    text = "long line of text " * 2000
    resp = client.post(URL, json={"messages": [{"role": "user", "content": text}]})
    assert resp.status_code == 200 and pool.asks[-1][0] == text
    parts = [{"type": "text", "text": "p"}] * 2001
    resp = client.post(URL, json={"messages": [{"role": "user", "content": parts}]})
    assert resp.status_code == 400 and resp.get_json()["error"]["param"] == "messages[0].content"
