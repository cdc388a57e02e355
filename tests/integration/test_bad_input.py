"""The bad-input corpus: hostile requests against the real gateway, each with its exact answer.

Every row is sent as raw bytes to gunicorn + gevent + the simulator and must get exactly its
status and error code, in the right envelope (Anthropic's on /v1/messages), as JSON: never a
500, a hang, an HTML page or a traceback. Every request leaves exactly one line in the
gateway's output: the app's JSON request line, or gunicorn's one warning for a request it
refuses itself; both carry the id the answer's `x-request-id` names. The table is also in
docs/reliability.md.
"""

from __future__ import annotations

import dataclasses
import json
import re
import select
import socket
import time

import pytest
from requests.structures import CaseInsensitiveDict

from lingma_flask.lingma.instance import wait_until
from tests.contract import check_answer
from tests.integration.gateway import API_KEY
from tests.integration.gateway import Gateway

pytestmark = pytest.mark.integration

LIMIT = 1_000_000      # LINGMA_MAX_BODY_BYTES of this gateway
BODY_TIMEOUT = 2.0     # LINGMA_BODY_TIMEOUT
KEEPALIVE = 5.0        # gunicorn.conf.py keepalive: the deadline for a request's head
SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
HI = [{"role": "user", "content": "hi"}]
CHAT, MSG, RESP, COMP, COUNT = ("/v1/chat/completions", "/v1/messages", "/v1/responses",
                                "/v1/completions", "/v1/messages/count_tokens")


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    gateway = Gateway(tmp_path_factory.mktemp("bad") / "work", LINGMA_MAX_BODY_BYTES=str(LIMIT),
                      LINGMA_BODY_TIMEOUT=str(BODY_TIMEOUT)).start()
    yield gateway
    gateway.stop()


# -- raw HTTP ------------------------------------------------------------------------------

@dataclasses.dataclass
class Answer:
    """A parsed HTTP answer."""

    status: int
    headers: CaseInsensitiveDict
    body: bytes

    def json(self):
        return json.loads(self.body)


def head(method: str, path: str, headers: dict[str, str] | None = None, length: int | None = 0,
         auth: bool = True) -> bytes:
    """A request head (Connection: close, so the answer ends with the connection)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
             "Content-Type: application/json"]
    if auth:
        lines.append(f"Authorization: Bearer {API_KEY}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def post(path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    """A whole POST request."""
    return head("POST", path, headers, len(body)) + body


def chunked(path: str, body: bytes, size: int = 65536) -> bytes:
    """A POST whose body is sent chunked, without a Content-Length."""
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
                      for i in range(0, len(body), size))
    return head("POST", path, {"Transfer-Encoding": "chunked"}, None) + chunks + b"0\r\n\r\n"


def connect(gw) -> socket.socket:
    host, port = gw.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def read_answer(sock: socket.socket) -> Answer:
    """Read until the server closes, then parse status, headers and body."""
    data = b""
    try:
        while part := sock.recv(65536):
            data += part
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    headers = CaseInsensitiveDict({k.strip(): v.strip() for k, _, v in
                                   (h.partition(":") for h in header_lines)})
    return Answer(int(status_line.split(" ")[1]), headers, body)


def send(gw, request: bytes) -> Answer:
    sock = connect(gw)
    try:
        sock.sendall(request)
    except (BrokenPipeError, ConnectionResetError):
        pass   # the gateway answered (413) and closed before taking the rest
    return read_answer(sock)


def log_lines_with(gw, request_id: str) -> list[str]:
    return [line for line in gw.lines if request_id in line]


# -- the corpus ----------------------------------------------------------------------------

@dataclasses.dataclass
class Row:
    """One hostile request and its exact answer: status, error code (or Anthropic type)."""

    id: str
    request: bytes
    status: int
    code: str | None
    path: str = CHAT
    by_server: bool = False   # refused by gunicorn itself, before any route
    field: str | None = None  # the field a wrong-type row breaks (the error names it)
    documented: bool = True   # an operation of docs/openapi.yaml (not a wrong method or path)


def chat(**fields) -> bytes:
    return json.dumps({"messages": HI, **fields}).encode()


def message(**fields) -> bytes:
    return json.dumps({"model": "claude-x", "max_tokens": 8, "messages": HI, **fields}).encode()


def padded(size: int) -> bytes:
    """A valid chat body of exactly `size` bytes (the padding is an ignored field)."""
    base = chat(pad="")
    return base.replace(b'"pad": ""', b'"pad": "' + b"p" * (size - len(base)) + b'"')


def nested(levels: int) -> bytes:
    return b'{"messages": ' + b"[" * levels + b"]" * levels + b"}"


HUGE_STRING = chat(messages=[{"role": "user", "content": "s" * (LIMIT - 200)}])
HUGE_ARRAY = chat(x=[0] * ((LIMIT - 200) // 3))   # "0, " per item
MANY_MESSAGES = json.dumps({"messages": [{"role": "user", "content": ""}] * 20_001}).encode()
BAD_MODEL = "qwen\r\nX-Injected: 1\x00\x07\x1b[31m"

ROWS = [
    Row("invalid-utf8", post(CHAT, b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}'),
        400, "invalid_json"),
    Row("invalid-utf8-anthropic", post(MSG, message()[:-2] + b'\xc3\x28"}'), 400,
        "invalid_request_error", MSG),
    Row("nested-100000", post(CHAT, nested(100_000)), 400, "invalid_json"),
    Row("nested-65", post(CHAT, nested(65)), 400, "invalid_json"),
    Row("nan", post(CHAT, b'{"messages": [], "temperature": NaN}'), 400, "invalid_json"),
    Row("infinity", post(CHAT, b'{"messages": [], "top_p": -Infinity}'), 400, "invalid_json"),
    Row("duplicate-keys", post(CHAT, b'{"messages": [], "messages": []}'), 400, "invalid_json"),
    Row("not-an-object", post(CHAT, b"[1, 2]"), 400, "invalid_request"),
    Row("empty-body", post(CHAT, b""), 400, "invalid_json"),
    Row("huge-string", post(CHAT, HUGE_STRING), 200, None),
    Row("huge-array", post(CHAT, HUGE_ARRAY), 200, None),
    Row("too-many-messages", post(CHAT, MANY_MESSAGES), 400, "invalid_value"),
    Row("at-the-limit", post(CHAT, padded(LIMIT)), 200, None),
    Row("one-under-the-limit", post(CHAT, padded(LIMIT - 1)), 200, None),
    Row("one-over-the-limit", post(CHAT, padded(LIMIT + 1)), 413, "request_too_large"),
    Row("one-over-anthropic", post(MSG, message(pad="p" * LIMIT)), 413, "request_too_large", MSG),
    Row("chunked-within", chunked(CHAT, padded(LIMIT - 1000)), 200, None),
    Row("chunked-over", chunked(CHAT, padded(LIMIT + 1)), 413, "request_too_large"),
    Row("model-control-chars", post(CHAT, chat(model=BAD_MODEL)), 404, "model_not_found"),
    Row("model-control-chars-anthropic", post(MSG, message(model=BAD_MODEL)), 404,
        "not_found_error", MSG),
    Row("request-id-tab", post(CHAT, chat(), {"x-request-id": "a\tb"}), 200, None),
    Row("request-id-markup", post(CHAT, chat(), {"x-request-id": "<script>x</script>"}), 200, None),
    Row("request-id-too-long", post(CHAT, chat(), {"x-request-id": "a" * 129}), 200, None),
    Row("request-id-cr", post(CHAT, chat(), {"x-request-id": "a\rb"}), 400, "invalid_request",
        by_server=True),
    Row("request-id-lf", post(CHAT, chat(), {"x-request-id": "a\nb"}), 400, "invalid_request",
        by_server=True),
    Row("request-id-control", post(CHAT, chat(), {"x-request-id": "a\x01b"}), 400,
        "invalid_request", by_server=True),
    Row("long-url", head("GET", "/v1/models/" + "m" * 9000), 414, "uri_too_long", "/v1/models",
        by_server=True),
    Row("long-url-anthropic", head("POST", MSG + "?" + "q" * 9000), 414, "invalid_request_error",
        MSG, by_server=True),
    Row("long-header", head("GET", "/v1/models", {"X-Big": "y" * 9000}), 431, "headers_too_large",
        "/v1/models", by_server=True),
    Row("long-header-anthropic", head("POST", MSG, {"X-Big": "y" * 9000}), 431,
        "invalid_request_error", MSG, by_server=True),
    Row("many-headers", head("GET", "/v1/models", {f"X-{i}": "1" for i in range(120)}), 431,
        "headers_too_large", "/v1/models", by_server=True),
    Row("wrong-method-anthropic", head("GET", MSG), 405, "invalid_request_error", MSG,
        documented=False),
    Row("unknown-path-anthropic", post(MSG + "/batches", b"{}"), 404, "not_found_error", MSG,
        documented=False),
]


def wrong_types(path: str, base: dict, table: dict, anthropic: bool = False) -> list[Row]:
    """One row per field: the field with a value of the wrong type is a 400 naming it."""
    code = "invalid_request_error" if anthropic else "invalid_value"
    return [Row(f"type-{path.rsplit('/', 1)[-1]}-{field}",
                post(path, json.dumps({**base, field: value}).encode()), 400, code, path,
                field=field) for field, value in table.items()]


TYPES = (
    wrong_types(CHAT, {"messages": HI}, {
        "model": 5, "messages": "hi", "stream": "true", "stream_options": "yes", "stop": 5,
        "max_tokens": "5", "max_completion_tokens": 1.5, "n": "1", "temperature": "1",
        "top_p": True, "tools": {}, "tool_choice": 5, "parallel_tool_calls": 1,
        "functions": "f", "function_call": 5, "response_format": "json"})
    + wrong_types(COMP, {"prompt": "hi"}, {
        "model": 5, "prompt": 5, "stream": "no", "stop": 5, "max_tokens": "16", "echo": "false",
        "suffix": 5, "n": "1", "best_of": 1.5, "logprobs": True})
    + wrong_types(RESP, {"input": "hi"}, {
        "model": [], "input": 5, "instructions": 5, "previous_response_id": 5, "stream": "true",
        "store": "false", "background": 1, "max_output_tokens": "9", "max_tool_calls": 1.5,
        "tools": "x", "tool_choice": 5, "parallel_tool_calls": "yes", "text": "plain",
        "reasoning": "high", "metadata": [], "include": "x", "temperature": "1", "top_p": True,
        "truncation": 5, "user": 5, "service_tier": 5, "prompt_cache_key": 5,
        "safety_identifier": 5, "client_metadata": "x"})
    + wrong_types(MSG, {"model": "claude-x", "max_tokens": 8, "messages": HI}, {
        "model": 5, "messages": {}, "max_tokens": "8", "system": 5, "stop_sequences": "x",
        "stream": "true", "metadata": "m", "temperature": "0.5", "top_p": True, "top_k": 1.5,
        "thinking": "on", "tools": {}, "tool_choice": "auto", "output_config": "x",
        "output_format": "x", "context_management": [], "service_tier": 5}, anthropic=True)
    + wrong_types(COUNT, {"model": "claude-x", "messages": HI}, {
        "model": 5, "messages": "x", "max_tokens": "8"}, anthropic=True)
)


def check_row(gw, row: Row, answer: Answer) -> None:
    """The exact status and code, in the right JSON envelope, with a sane request id."""
    assert answer.status == row.status, (row.id, answer.status, answer.body[:300])
    assert answer.headers.get("content-type", "").startswith("application/json"), answer.headers
    assert b"<html" not in answer.body.lower() and b"Traceback" not in answer.body
    request_id = answer.headers.get("x-request-id", "")
    assert SANE_ID.fullmatch(request_id), request_id
    body = answer.json()
    if row.code is None:
        assert "error" not in body
    elif row.path.startswith(MSG):
        assert body["type"] == "error" and body["error"]["type"] == row.code, body
        assert body["request_id"] == request_id
    else:
        assert body["error"]["code"] == row.code, body
    if row.field is not None:
        error = body["error"]
        assert (f"'{row.field}'" in error["message"] if row.path.startswith(MSG)
                else error["param"] == row.field), error
    if row.documented and not row.by_server:
        check_answer(*operation_of(row), answer.status, answer.headers, answer.body)


def operation_of(row: Row) -> tuple[str, str]:
    """The documented operation a row's request goes to (its method and path template)."""
    method = row.request.split(b" ", 1)[0].decode()
    path = row.request.split(b" ", 2)[1].decode().split("?")[0]
    return method, "/v1/models/{model_id}" if path.startswith("/v1/models/") else path


def one_log_line(gw, request_id: str) -> list[str]:
    """Wait for the request's log line; return every line that names it."""
    assert wait_until(lambda: log_lines_with(gw, request_id), 5), f"no log line for {request_id}"
    return log_lines_with(gw, request_id)


@pytest.mark.parametrize("row", [pytest.param(r, id=r.id) for r in ROWS + TYPES])
def test_each_hostile_request_gets_its_exact_answer_and_one_log_line(gw, row):
    answer = send(gw, row.request)
    check_row(gw, row, answer)
    lines = one_log_line(gw, answer.headers["x-request-id"])
    assert len(lines) == 1, lines
    logged = json.loads(lines[0])
    if row.by_server:
        assert logged["level"] == "WARNING" and "Invalid request" in logged["message"]
    else:
        assert logged["status"] == row.status
        assert bool(logged["error"]) == (row.code is not None), logged


def test_a_request_id_with_control_characters_is_never_echoed(gw):
    answer = send(gw, post(CHAT, chat(), {"x-request-id": "a\tb"}))
    assert answer.headers["x-request-id"].startswith("req_")
    sane = send(gw, post(CHAT, chat(), {"x-request-id": "mine-1.2:3"}))
    assert sane.headers["x-request-id"] == "mine-1.2:3"


def test_a_model_name_with_newlines_stays_on_one_log_line(gw):
    answer = send(gw, post(CHAT, chat(model=BAD_MODEL)))
    line = one_log_line(gw, answer.headers["x-request-id"])[0]
    assert "\r" not in line and "\x1b" not in line and json.loads(line)["model"] == BAD_MODEL
    assert "X-Injected" not in "".join(answer.headers)


def test_a_body_sent_one_byte_a_second_gets_408_at_the_deadline(gw):
    body = chat()
    sock = connect(gw)
    sock.sendall(head("POST", CHAT, {"x-request-id": "slow-client-1"}, len(body)))
    began = time.monotonic()
    try:
        for byte in body:
            sock.sendall(bytes([byte]))
            if wait_until(lambda: readable(sock), 1.0):
                break    # the gateway answered: stop trickling
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = read_answer(sock)
    elapsed = time.monotonic() - began
    assert answer.status == 408 and answer.json()["error"]["code"] == "request_timeout"
    assert BODY_TIMEOUT - 0.5 < elapsed < BODY_TIMEOUT + 2.0, elapsed
    assert len(one_log_line(gw, "slow-client-1")) == 1


def readable(sock: socket.socket) -> bool:
    """Tell whether the gateway has sent something (or closed)."""
    return bool(select.select([sock], [], [], 0)[0])


def test_connections_that_never_send_a_request_are_closed_and_health_still_answers(gw):
    idle = [connect(gw) for _ in range(50)]
    try:
        began = time.monotonic()
        assert gw.get("/health")[0] == 200
        for sock in idle:
            sock.settimeout(KEEPALIVE + 5)
            assert sock.recv(1) == b""      # closed by the gateway, nothing said
        assert time.monotonic() - began < KEEPALIVE + 5
        assert gw.get("/health")[0] == 200
    finally:
        for sock in idle:
            sock.close()
