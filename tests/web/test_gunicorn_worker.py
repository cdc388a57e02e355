"""The worker class gunicorn runs: requests gunicorn itself refuses get the face's JSON error."""

import json
import socket

import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.errors import InvalidHeader
from gunicorn.http.errors import LimitRequestLine
from gunicorn.http.parser import RequestParser
from gunicorn.workers.ggevent import GeventWorker

from lingma_flask.web.gunicorn_worker import HeldHeadersResponse
from lingma_flask.web.gunicorn_worker import JsonErrorWorker
from lingma_flask.web.gunicorn_worker import NoAccessLogger
from lingma_flask.web.gunicorn_worker import SettledConfig


class Log:
    """Records what the worker logs."""

    def __init__(self):
        self.lines = []

    def warning(self, message, *args):
        self.lines.append(("warning", message % args))

    def exception(self, message, *args):
        self.lines.append(("exception", message % args))

    def debug(self, message, *args):
        self.lines.append(("debug", message % args))


class Request:
    def __init__(self, path):
        self.path = path


def answer(req, exc) -> tuple[str, dict, bytes, Log]:
    """Let the worker handle `exc`; return (status line, headers, body, its log)."""
    worker = object.__new__(JsonErrorWorker)   # its handler needs no running worker
    worker.log = Log()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        worker.handle_error(req, ours, ("192.0.2.7", 5000), exc)
        ours.shutdown(socket.SHUT_WR)
        raw = b"".join(iter(lambda: theirs.recv(65536), b""))
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return status, headers, body, worker.log


def test_a_request_line_too_long_is_an_openai_414():
    status, headers, body, log = answer(None, LimitRequestLine(9000, 4094))
    assert status == "HTTP/1.1 414 URI Too Long"
    assert headers["Content-Type"] == "application/json" and int(headers["Content-Length"]) == len(body)
    error = json.loads(body)["error"]
    assert error["code"] == "uri_too_long" and error["type"] == "invalid_request_error"
    assert set(error) == {"message", "type", "param", "code"}
    assert headers["x-request-id"] in log.lines[0][1] and "192.0.2.7" in log.lines[0][1]


def test_a_bad_header_on_the_anthropic_face_is_anthropics_400():
    status, headers, body, _ = answer(Request("/v1/messages"), InvalidHeader("X-Bad\x01"))
    assert status == "HTTP/1.1 400 Bad Request"
    document = json.loads(body)
    assert document["type"] == "error" and document["error"]["type"] == "invalid_request_error"
    assert document["request_id"] == headers["x-request-id"]


@pytest.mark.parametrize("path", ["/v1/chat/completions", ""])
def test_a_bug_is_a_500_that_names_no_detail(path):
    try:
        raise RuntimeError("secret detail")
    except RuntimeError as exc:
        status, _, body, log = answer(Request(path) if path else None, exc)
    assert status == "HTTP/1.1 500 Internal Server Error"
    assert json.loads(body)["error"]["code"] == "internal_error" and b"secret" not in body
    assert log.lines[0][0] == "exception"


def test_the_path_of_a_request_line_too_long_is_read_from_the_parser_frames():
    def parse(data):
        raise LimitRequestLine(len(data), 10)
    try:
        parse(b"POST /v1/messages?x=" + b"a" * 100)
    except LimitRequestLine as exc:
        _, _, body, _ = answer(None, exc)
    assert json.loads(body)["type"] == "error"   # Anthropic's envelope: the path was found


def test_the_access_logger_builds_nothing_per_request(monkeypatch):
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    built = []
    monkeypatch.setattr(Logger, "atoms", lambda *args: built.append(args) or {})
    logger = NoAccessLogger(Config())
    assert logger.access(object(), object(), {}, 0.1) is None and built == []


def test_the_sigterm_handler_tells_the_app_at_once():
    told = []
    worker = JsonErrorWorker.__new__(JsonErrorWorker)
    worker.alive = True
    worker.on_exit_signal = lambda: told.append(True)
    worker.handle_exit(15, None)
    assert worker.alive is False and told == [True]


class CountingSocket:
    """A socket stand-in that keeps each `send` or `sendall` as one write."""

    def __init__(self):
        self.writes: list[bytes] = []

    def send(self, data):
        self.writes.append(bytes(data))
        return len(data)

    def sendall(self, data):
        self.writes.append(bytes(data))


def respond(request: bytes, status: str, headers: list, body: list[bytes]) -> list[bytes]:
    """Answer `request` through `HeldHeadersResponse` as gunicorn's async worker does; return
    the writes it made."""
    cfg = Config()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(request)
        req = next(iter(RequestParser(cfg, ours, ("127.0.0.1", 1))))
    sock = CountingSocket()
    resp, _ = wsgi.create(req, sock, ("127.0.0.1", 1), ("127.0.0.1", 2), cfg,
                          response_class=HeldHeadersResponse)
    resp.start_response(status, headers)
    for piece in body:
        resp.write(piece)
    resp.close()
    return sock.writes


GET = b"GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n"
HEAD = b"HEAD /health HTTP/1.1\r\nHost: localhost\r\n\r\n"


def test_a_streams_head_goes_out_with_its_first_chunk():
    writes = respond(GET, "200 OK", [("Content-Type", "text/event-stream")],
                     [b"data: 1\n\n", b"data: 2\n\n"])
    assert len(writes) == 3   # head + first chunk, second chunk, last chunk
    head, _, first = writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"Transfer-Encoding: chunked" in head
    assert b"Content-Type: text/event-stream" in head
    assert first == b"9\r\ndata: 1\n\n\r\n"
    assert writes[1:] == [b"9\r\ndata: 2\n\n\r\n", b"0\r\n\r\n"]


def test_a_json_answer_is_one_write():
    body = b'{"object":"list","data":[]}'
    writes = respond(GET, "200 OK", [("Content-Type", "application/json"),
                                     ("Content-Length", str(len(body)))], [body])
    assert len(writes) == 1 and writes[0].endswith(b"\r\n\r\n" + body)
    assert b"Content-Length: %d\r\n" % len(body) in writes[0]


def test_a_head_without_body_bytes_is_sent_at_once():
    """An empty chunk, or a body the method forbids, sends the head at the end of that write,
    as gunicorn's own response did, rather than holding it."""
    writes = respond(GET, "200 OK", [("Content-Type", "text/event-stream")], [b"", b"x"])
    assert len(writes) == 3 and writes[0].endswith(b"\r\n\r\n")
    assert writes[1:] == [b"1\r\nx\r\n", b"0\r\n\r\n"]
    writes = respond(HEAD, "200 OK", [("Content-Length", "5")], [b"hello"])
    assert len(writes) == 1 and writes[0].endswith(b"\r\n\r\n")


def test_an_empty_answer_sends_its_head_with_the_last_chunk():
    writes = respond(GET, "200 OK", [("Content-Type", "text/event-stream")], [])
    assert len(writes) == 1 and writes[0].endswith(b"\r\n\r\n0\r\n\r\n")


def test_the_worker_makes_its_responses_hold_their_head(monkeypatch):
    monkeypatch.setattr(wsgi, "Response", wsgi.Response)   # restored after the test
    worker = object.__new__(JsonErrorWorker)
    worker.cfg = Config()
    monkeypatch.setattr(GeventWorker, "init_process", lambda self: None)
    worker.init_process()
    assert wsgi.Response is HeldHeadersResponse
    assert type(worker.cfg) is SettledConfig


def test_settled_settings_read_as_gunicorns_and_are_kept_after_the_first_read():
    cfg = Config()
    cfg.set("keepalive", 7)
    cfg.set("limit_request_fields", 50)
    expected = {name: getattr(cfg, name) for name in cfg.settings}
    ssl = cfg.is_ssl
    cfg.__class__ = SettledConfig
    assert "keepalive" not in vars(cfg)
    assert {name: getattr(cfg, name) for name in cfg.settings} == expected
    assert vars(cfg)["keepalive"] == 7 and cfg.keepalive == 7 and cfg.limit_request_fields == 50
    assert cfg.is_ssl == ssl   # the properties still work, on the kept values
    with pytest.raises(AttributeError):
        _ = cfg.no_such_setting
    with pytest.raises(AttributeError):
        cfg.keepalive = 3        # still read-only, as in gunicorn
