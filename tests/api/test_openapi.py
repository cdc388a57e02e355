"""docs/openapi.yaml: a valid OpenAPI 3.1 document, exactly the app's routes, and true to its answers.

Each case of the table drives one request through the app (FakePool behind it) and checks the
status it expects, then the answer's headers and body against the schema the spec documents
for that operation and status (JSON bodies, and every event of a stream).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pytest
from openapi_spec_validator import validate as validate_spec

from lingma_flask import create_app
from lingma_flask.lingma import errors as lingma_errors
from lingma_flask.lingma.settings import CoreSettings
from lingma_flask.lingma.stream import Thought
from tests.contract import check_answer
from tests.contract import openapi_path
from tests.contract import spec

from .fakes import FakePool

HI = [{"role": "user", "content": "hi"}]
CALL = '<tool_call>\n{"name": "read_file", "arguments": {"path": "README.md"}}\n</tool_call>'
READ = {"name": "read_file", "description": "Read a file",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}},
                       "required": ["path"]}}
REMOTE = {"environ_base": {"REMOTE_ADDR": "10.0.0.5"}}
IGNORED_ENDPOINTS = {"static", "page.static"}   # Flask's file routes, not part of the API


def documented_operations() -> set[tuple[str, str]]:
    """(METHOD, path) of every operation in the spec."""
    return {(method.upper(), path) for path, item in spec()["paths"].items()
            for method in item if method in ("get", "post", "put", "patch", "delete")}


def served_operations(app) -> set[tuple[str, str]]:
    """(METHOD, path) of every route of the app, HEAD/OPTIONS and static files left out."""
    return {(method, openapi_path(rule.rule)) for rule in app.url_map.iter_rules()
            if rule.endpoint not in IGNORED_ENDPOINTS
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_the_spec_is_a_valid_openapi_3_1_document():
    document = spec()
    assert document["openapi"].startswith("3.1")
    validate_spec(document)


def test_the_spec_documents_exactly_the_apps_routes(app):
    documented, served = documented_operations(), served_operations(app)
    assert documented - served == set(), "documented but not served"
    assert served - documented == set(), "served but not documented"
    assert ("POST", "/chat/completions") in documented and ("GET", "/openapi.json") in documented


def test_an_unprefixed_alias_is_its_v1_twin(app):
    """Served by the twin's view and documented as the twin (so tests/integration/test_fuzz.py
    sends the twin's coverage cases to the twin alone)."""
    paths, routes, documented = spec()["paths"], app.url_map.bind("localhost"), documented_operations()
    pairs = [(method, path) for method, path in documented
             if not path.startswith("/v1/") and (method, "/v1" + path) in documented]
    assert {("POST", "/chat/completions"), ("POST", "/responses/input_tokens")} <= set(pairs)
    for method, path in pairs:
        alias, twin = paths[path][method.lower()], paths["/v1" + path][method.lower()]
        for part in ("parameters", "requestBody", "responses", "security"):
            assert alias.get(part) == twin.get(part), (method, path, part)
        url = re.sub(r"\{\w+\}", "x", path)
        assert routes.match(url, method)[0] == routes.match("/v1" + url, method)[0], (method, path)


def test_openapi_json_serves_the_yaml_without_a_key(make_app):
    client = make_app(API_KEYS="k1").test_client()
    resp = client.get("/openapi.json", environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert resp.status_code == 200 and resp.get_json() == spec()


# -- real answers against the spec ---------------------------------------------------------

class FakeInstance:
    """Just what the admin API reads of an instance."""

    name, ready, logged_in, http_port = "fake-0", True, True, 37510
    auth = {"name": "Ada"}

    def __init__(self):
        self.restarts, self.endpoint_value = [], ""

    def request_restart(self, reason):
        self.restarts.append(reason)

    def start_login(self):
        return "https://devops.aliyun.com/lingma/login?port=37510&state=s1"

    def request_refresh(self):
        pass

    def logout(self):
        self.logged_in = False

    def endpoint(self):
        return self.endpoint_value

    def set_endpoint(self, endpoint):
        self.endpoint_value = endpoint


class AdminPool(FakePool):
    """A FakePool with one instance and the admin view of its health."""

    def __init__(self, work_dir):
        super().__init__()
        self.instances = [FakeInstance()]
        self.settings = CoreSettings.from_mapping({"WORK_DIR": str(work_dir)})

    def health(self):
        instance = {"name": "fake-0", "state": "ready", "logged_in": True, "account": "Ada",
                    "in_flight": 0, "models": 4, "restarts": 0, "reconnects": 0, "pid": 42,
                    "port": 37010, "http_port": 37510, "work_dir": "/w", "last_error": None,
                    "first_token_ms": {"count": 0, "p50": None, "p95": None}}
        return {"ready": self.ready, "simulator": False, "max_concurrency": 4, "in_flight": 0,
                "instances": [instance]}


@dataclasses.dataclass
class Case:
    """One request, what its pool does, and the status it must get."""

    id: str
    method: str
    url: str
    status: int
    json: Any = None
    setup: Callable[[FakePool], None] | None = None
    config: dict = dataclasses.field(default_factory=dict)
    kwargs: dict = dataclasses.field(default_factory=dict)

    @property
    def param(self):
        return pytest.param(self, id=self.id)


def script(*items):
    return lambda pool: pool.script(*items)


def fail_ask(error):
    def setup(pool):
        pool.ask_error = error
    return setup


def chat(**fields):
    return {"model": "qwen3-coder", "messages": HI, **fields}


def message(**fields):
    return {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": HI, **fields}


def chat_tool():
    return [{"type": "function", "function": READ}]


PATCH_CALL = ('<tool_call>\n{"name": "apply_patch", "arguments": {"input": "*** Begin Patch\\n'
              '*** End Patch\\n"}}\n</tool_call>')
PATCH_FORMAT = {"type": "grammar", "syntax": "lark", "definition": "start: patch"}
CHAT_PATCH = {"type": "custom", "custom": {"name": "apply_patch", "format": {
    "type": "grammar", "grammar": {"syntax": "lark", "definition": "start: patch"}}}}


BUSY = lingma_errors.LingmaBusyError("busy", retry_after=2)
CHAT, RESP, MSG = "/v1/chat/completions", "/v1/responses", "/v1/messages"

CASES = [
    # chat completions
    Case("chat", "POST", CHAT, 200, chat()),
    Case("chat-alias", "POST", "/chat/completions", 200, chat()),
    Case("chat-tools", "POST", CHAT, 200, chat(tools=chat_tool()), script("Look.\n", CALL)),
    Case("chat-reasoning", "POST", CHAT, 200, chat(model="kmodel"), script(Thought("hm"), "Hi")),
    Case("chat-stream", "POST", CHAT, 200,
         chat(model="kmodel", stream=True, stream_options={"include_usage": True}),
         script(Thought("hm"), "Hel", "lo")),
    Case("chat-stream-tools", "POST", CHAT, 200, chat(stream=True, tools=chat_tool()),
         script(CALL)),
    Case("chat-custom-tool", "POST", CHAT, 200, chat(tools=[*chat_tool(), CHAT_PATCH]),
         script(PATCH_CALL, "\n", CALL)),
    Case("chat-stream-custom-tool", "POST", CHAT, 200, chat(stream=True, tools=[CHAT_PATCH]),
         script(PATCH_CALL)),
    Case("chat-stream-fails", "POST", CHAT, 200, chat(stream=True),
         script("Hel", lingma_errors.LingmaUpstreamError("boom"))),
    Case("chat-stop-length", "POST", CHAT, 200, chat(max_tokens=1), script("one two three four")),
    Case("chat-invalid-json", "POST", CHAT, 400, kwargs={"data": b"{nope"}),
    Case("chat-loose-type", "POST", CHAT, 400, chat(stream="yes")),
    Case("chat-not-object", "POST", CHAT, 400, [1]),
    Case("chat-no-key", "POST", CHAT, 401, chat(), kwargs=REMOTE),
    Case("chat-bad-origin", "POST", CHAT, 403, chat(),
         kwargs={"headers": {"Origin": "https://evil.example"}}),
    Case("chat-forbidden", "POST", CHAT, 403, chat(),
         fail_ask(lingma_errors.LingmaForbiddenError("no"))),
    Case("chat-unknown-model", "POST", CHAT, 404, chat(model="nope")),
    Case("chat-too-large", "POST", CHAT, 413, chat(messages=[{"role": "user", "content": "x" * 5000}])),
    Case("chat-busy", "POST", CHAT, 429, chat(), fail_ask(BUSY)),
    Case("chat-upstream", "POST", CHAT, 502, chat(),
         fail_ask(lingma_errors.LingmaUpstreamError("boom"))),
    Case("chat-not-ready", "POST", CHAT, 503, chat(),
         fail_ask(lingma_errors.LingmaNotReadyError("starting", retry_after=5))),
    Case("chat-timeout", "POST", CHAT, 504, chat(),
         fail_ask(lingma_errors.LingmaTimeoutError("slow", phase="first_token"))),
    # legacy completions
    Case("completion", "POST", "/v1/completions", 200, {"model": "auto", "prompt": "Say"}),
    Case("completion-alias-stream", "POST", "/completions", 200,
         {"prompt": ["a", "b"], "stream": True}),
    Case("completion-echo", "POST", "/v1/completions", 400, {"prompt": "x", "echo": True}),
    # responses
    Case("response", "POST", RESP, 200, {"model": "gpt-5", "input": "hi", "instructions": "Be"}),
    Case("response-alias-tools", "POST", "/responses", 200,
         {"input": "hi", "tools": [{"type": "function", **READ}, {"type": "web_search"}]},
         script("Look.\n", CALL)),
    Case("response-stream", "POST", RESP, 200,
         {"model": "kmodel", "input": "hi", "stream": True, "tools": [{"type": "function", **READ}]},
         script(Thought("hm"), "Look.\n", CALL)),
    Case("response-stream-length", "POST", RESP, 200,
         {"input": "hi", "stream": True, "max_output_tokens": 1}, script("one two three four")),
    Case("response-stream-fails", "POST", RESP, 200, {"input": "hi", "stream": True},
         script("Hel", lingma_errors.LingmaRateLimitError("slow down", retry_after=3))),
    Case("response-unknown-previous", "POST", RESP, 400,
         {"input": "hi", "previous_response_id": "resp_nope"}),
    Case("response-busy", "POST", RESP, 429, {"input": "hi"}, fail_ask(BUSY)),
    Case("response-custom-tool", "POST", RESP, 200,
         {"input": "hi", "tools": [{"type": "custom", "name": "apply_patch",
                                    "format": PATCH_FORMAT}]}, script(PATCH_CALL)),
    Case("response-stream-custom-tool", "POST", RESP, 200,
         {"input": "hi", "stream": True, "tools": [{"type": "function", **READ},
                                                   {"type": "custom", "name": "apply_patch"}]},
         script("Look.\n", PATCH_CALL, "\n", CALL)),
    Case("response-socket-plain-get", "GET", RESP, 426),
    Case("response-socket-no-socket", "GET", "/responses", 426, kwargs={"headers": {
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}}),
    # anthropic messages
    Case("message", "POST", MSG, 200, message()),
    Case("message-tools", "POST", MSG, 200,
         message(tools=[{"name": "read_file", "input_schema": READ["parameters"]}]),
         script(Thought("hm"), "Look.\n", CALL)),
    Case("message-stream", "POST", MSG, 200,
         message(stream=True, thinking={"type": "enabled", "budget_tokens": 1024},
                 tools=[{"name": "read_file", "input_schema": READ["parameters"]}]),
         script(Thought("hm"), "Look.\n", CALL)),
    Case("message-stream-fails", "POST", MSG, 200, message(stream=True),
         script("Hel", lingma_errors.LingmaTimeoutError("idle", phase="idle"))),
    Case("message-invalid", "POST", MSG, 400, {"model": "claude-x", "messages": HI}),
    Case("message-no-key", "POST", MSG, 401, message(), kwargs=REMOTE),
    Case("message-unknown-model", "POST", MSG, 404, message(model="nope")),
    Case("message-too-large", "POST", MSG, 413, message(system="x" * 5000)),
    Case("message-not-logged-in", "POST", MSG, 500, message(),
         fail_ask(lingma_errors.LingmaNotLoggedInError("logged out"))),
    Case("message-overloaded", "POST", MSG, 529, message(), fail_ask(BUSY)),
    Case("count-tokens", "POST", "/v1/messages/count_tokens", 200,
         {"model": "claude-x", "messages": HI}),
    Case("count-tokens-invalid", "POST", "/v1/messages/count_tokens", 400, {"model": "claude-x"}),
    Case("message-thread-not-found", "POST", MSG, 404,
         message(thread={"type": "continue", "previous_message_id": "msg_nope"})),
    Case("count-tokens-thread-not-found", "POST", "/v1/messages/count_tokens", 404,
         message(thread={"type": "continue", "previous_message_id": "msg_nope"})),
    # responses: input tokens; server state that is not kept
    Case("input-tokens", "POST", "/v1/responses/input_tokens", 200,
         {"model": "gpt-5", "input": "hi", "tools": [{"type": "function", **READ}]}),
    Case("input-tokens-alias", "POST", "/responses/input_tokens", 200, {"input": "hi"}),
    Case("input-tokens-unknown-model", "POST", "/v1/responses/input_tokens", 404,
         {"model": "nope", "input": "hi"}),
    Case("input-tokens-too-large", "POST", "/v1/responses/input_tokens", 413,
         {"input": "x" * 5000}),
    Case("response-conversation", "POST", RESP, 400, {"input": "hi", "conversation": "conv_1"}),
    Case("conversations", "POST", "/v1/conversations", 400, {}),
    Case("conversation-get", "GET", "/v1/conversations/conv_1", 400),
    Case("conversation-items", "POST", "/v1/conversations/conv_1/items", 400, {"items": []}),
    Case("conversation-delete", "DELETE", "/v1/conversations/conv_1", 400),
    # models
    Case("models", "GET", "/v1/models", 200, config={"MODEL_ALIASES": {"gpt-4o": "auto"}}),
    Case("models-alias", "GET", "/models", 200),
    Case("model", "GET", "/v1/models/Qwen3-Coder", 200),
    Case("model-alias-slash", "GET", "/models/org/name", 404),
    Case("models-not-ready", "GET", "/v1/models", 503,
         setup=lambda pool: setattr(pool, "models_error", lingma_errors.LingmaNotReadyError("x"))),
    # ops
    Case("health", "GET", "/health", 200),
    Case("ready", "GET", "/ready", 200),
    Case("not-ready", "GET", "/ready", 503, setup=lambda pool: setattr(pool, "ready", False)),
    Case("metrics", "GET", "/metrics", 200),
    Case("metrics-key", "GET", "/metrics", 401, config={"METRICS_KEY": "m"}),
    Case("openapi", "GET", "/openapi.json", 200),
    Case("foreign-host", "GET", "/health", 403, kwargs={"headers": {"Host": "evil.example"}}),
]

ADMIN_CASES = [
    Case("admin-health", "GET", "/admin/api/health", 200),
    Case("admin-instances", "GET", "/admin/api/instances", 200),
    Case("admin-requests", "GET", "/admin/api/requests", 200),
    Case("admin-usage", "GET", "/admin/api/usage?since=1d&key=alice", 200, config={"DATABASE_URL": "sqlite://"}),
    Case("admin-usage-bad", "GET", "/admin/api/usage?since=soon", 400, config={"DATABASE_URL": "sqlite://"}),
    Case("admin-usage-off", "GET", "/admin/api/usage", 404),
    Case("admin-login-state", "GET", "/admin/api/login", 200),
    Case("admin-login-start", "POST", "/admin/api/login", 200),
    Case("admin-callback-no-login", "POST", "/admin/api/login/callback", 400, {"url": "x"}),
    Case("admin-logout", "POST", "/admin/api/logout", 200),
    Case("admin-endpoint", "GET", "/admin/api/endpoint", 200),
    Case("admin-endpoint-set", "POST", "/admin/api/endpoint", 200, {"endpoint": "https://e.x"}),
    Case("admin-endpoint-bad", "POST", "/admin/api/endpoint", 400, {"endpoint": "http://e.x"}),
    Case("admin-restart", "POST", "/admin/api/instances/fake-0/restart", 202),
    Case("admin-restart-unknown", "POST", "/admin/api/instances/nope/restart", 404),
    Case("admin-restart-elsewhere", "POST", "/admin/api/instances/fake-0/restart", 409, {"host": "another-host"}),
    Case("admin-remote", "GET", "/admin/api/health", 401, kwargs=REMOTE),
    Case("page", "GET", "/admin/", 200),
    Case("page-remote", "GET", "/admin/", 403, kwargs=REMOTE),
    Case("page-sign-in-keyless", "POST", "/admin/login", 303),
    Case("page-sign-in-expired", "POST", "/admin/login", 400, config={"ADMIN_KEY": "a"},
         kwargs={"data": {"key": "a", "csrf": "old"}}),
    Case("page-sign-out-expired", "POST", "/admin/logout", 403, kwargs={"data": {"csrf": "x"}}),
    Case("qr-not-login", "GET", "/admin/qr?data=https://evil.example", 400),
    Case("qr-remote", "GET", "/admin/qr", 401, config={"ADMIN_KEY": "a"}, kwargs=REMOTE),
]


def run(make_app, pool, case: Case):
    """Send a case's request; return the response and its route's OpenAPI path."""
    if case.setup:
        case.setup(pool)
    app = make_app(MAX_BODY_BYTES=4096, **case.config)
    client = app.test_client()
    kwargs = dict(case.kwargs)
    if case.json is not None:
        kwargs["json"] = case.json
    resp = client.open(case.url, method=case.method, **kwargs)
    path = case.url.split("?")[0]
    rule, _ = app.url_map.bind("localhost").match(path, case.method, return_rule=True)
    return resp, openapi_path(rule.rule)


@pytest.mark.parametrize("case", [c.param for c in CASES])
def test_answers_match_the_spec(make_app, pool, case):
    resp, path = run(make_app, pool, case)
    assert resp.status_code == case.status, resp.get_data(as_text=True)[:300]
    check_answer(case.method, path, resp.status_code, resp.headers, resp.get_data())


@pytest.fixture
def admin_pool(tmp_path):
    return AdminPool(tmp_path / "work")


@pytest.mark.parametrize("case", [c.param for c in ADMIN_CASES])
def test_admin_answers_match_the_spec(admin_pool, case):
    def make(**config):
        return create_app({"TESTING": True, "LINGMA_POOL": admin_pool, **config})
    resp, path = run(make, admin_pool, case)
    assert resp.status_code == case.status, resp.get_data(as_text=True)[:300]
    check_answer(case.method, path, resp.status_code, resp.headers, resp.get_data())


def test_every_documented_operation_has_a_case():
    covered = {(c.method, c.url.split("?")[0]) for c in CASES + ADMIN_CASES}
    missing = {op for op in documented_operations() if not _matches_any(op, covered)}
    assert missing == set()


def _matches_any(op, covered) -> bool:
    method, template = op
    pattern = "^" + template.replace("{model_id}", ".+").replace("{name}", "[^/]+")
    pattern = pattern.replace("{conversation_path}", ".+") + "$"
    return any(m == method and re.match(pattern, url) for m, url in covered)
