"""Named keys, limits per key and fair queuing on the real gateway (gunicorn, gevent worker,
simulator).

One gateway reads its keys from LINGMA_API_KEYS_FILE and runs one Lingma taking two chats at a
time. A planted key never shows in the output, the metrics or the admin's requests; a key's
open-chat limit is freed when its client disconnects; a greedy key holding twenty stalled
streams cannot keep a polite key's one request waiting behind its queue; a HUP with a bad keys
file is refused (the gateway goes on), and after the file is edited and the master gets HUP, a
new key works and a removed one is refused. Waits poll with deadlines; nothing asserts on
elapsed time.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import threading

import pytest

from lingma_flask.lingma.instance import wait_until
from tests.integration.gateway import Gateway
from tests.integration.test_startup_errors import start_gunicorn
from tests.pg import wait_for

pytestmark = pytest.mark.integration

PLANTED = "sk-planted-7f3a9c2e41d84b06"   # alice's key: must never be seen anywhere
KEYS = {"alice": PLANTED, "greedy": "sk-greedy-1", "polite": "sk-polite-2", "dave": "sk-dave-3"}
LIMITS = {"alice": {"concurrent": 1}}
DEADLINE = 90.0
GREEDY_STREAMS = 20
SLOTS = 2


def key_file(keys: dict[str, str]) -> str:
    return "# the team's keys\n\n" + "".join(f"{name}:{key}\n" for name, key in keys.items())


@pytest.fixture(scope="module")
def keys_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("keys") / "api-keys"
    path.write_text(key_file(KEYS))
    return path


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, keys_path):
    gw = Gateway(tmp_path_factory.mktemp("gw") / "work", LINGMA_API_KEYS_FILE=str(keys_path),
                 LINGMA_KEY_LIMITS=json.dumps(LIMITS), LINGMA_MAX_CONCURRENCY=str(SLOTS),
                 LINGMA_QUEUE_TIMEOUT="300", LINGMA_FIRST_TOKEN_TIMEOUT="300")
    gw.env.pop("LINGMA_API_KEYS")
    gw.start()
    yield gw
    gw.stop()


class Chat:
    """One streamed chat on its own connection: `admitted` is set once its headers came."""

    def __init__(self, gw: Gateway, key: str, text: str) -> None:
        host, port = gw.url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=DEADLINE * 4)
        self.key, self.text = key, text
        self.admitted = threading.Event()
        self.status: int | None = None
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        body = json.dumps({"messages": [{"role": "user", "content": self.text}], "stream": True})
        try:
            self.conn.request("POST", "/v1/chat/completions", body,
                              {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
            self.status = self.conn.getresponse().status   # the headers: the chat was admitted
        except OSError:
            return
        self.admitted.set()

    def hang_up(self) -> None:
        """Disconnect as a client that goes away mid-stream."""
        sock = self.conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conn.close()


def post(gw: Gateway, key: str, path: str = "/v1/chat/completions", body: dict | None = None,
         method: str = "POST") -> tuple[int, dict, dict]:
    """One plain request: (status, headers, JSON body)."""
    host, port = gw.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        payload = None if method == "GET" else json.dumps(body or {"messages": [{"role": "user", "content": "hi"}]})
        conn.request(method, path, payload, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(data or b"{}")
    finally:
        conn.close()


def pool_health(gw: Gateway) -> dict:
    return gw.health()[1]


def asked(gw: Gateway) -> list[str]:
    """The prompts the simulator was asked, in order."""
    return [ask.get("questionText", "") for ask in gw.sim_state()["asks"]]


def idle(gw: Gateway) -> bool:
    health = pool_health(gw)
    return health.get("in_flight") == 0 and health.get("queued") == 0


def test_a_planted_key_is_named_never_shown(gateway):
    for _ in range(2):
        status, _, _ = post(gateway, PLANTED)
        assert status == 200
    assert post(gateway, PLANTED + "-wrong")[0] == 401
    assert wait_until(lambda: sum(1 for line in gateway.request_lines() if line.get("key") == "alice") >= 2,
                      DEADLINE)
    output = "".join(gateway.lines)

    def listed_with_alice():   # with the store on, the list is the usage table: one flush behind
        code, listed = gateway.get("/admin/api/requests")
        assert code == 200
        return listed if "alice" in [r["key"] for r in listed["requests"]] else None
    listed = wait_for(listed_with_alice, DEADLINE)
    _, _, _ = post(gateway, PLANTED, "/v1/models", method="GET")
    host, port = gateway.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", "/metrics")
    metrics = conn.getresponse().read().decode()
    conn.close()
    assert 'key="alice"' in metrics and "lingma_requests_total" in metrics
    for where in (output, json.dumps(listed), metrics):
        assert PLANTED not in where


def test_a_keys_open_chat_is_freed_when_its_client_hangs_up(gateway):
    holder = Chat(gateway, PLANTED, "hold [[sim:stall]]")
    assert holder.admitted.wait(DEADLINE) and holder.status == 200
    status, headers, body = post(gateway, PLANTED)
    assert status == 429 and headers["retry-after"] == "1"
    assert body["error"]["code"] == "concurrency_limit_exceeded"
    assert body["error"]["message"].startswith("Key 'alice' is over its limit of 1 concurrent chats")
    assert post(gateway, KEYS["polite"])[0] == 200   # another key is not held back
    holder.hang_up()
    assert wait_until(lambda: post(gateway, PLANTED)[0] == 200, DEADLINE)
    assert wait_until(lambda: idle(gateway), DEADLINE), pool_health(gateway)


def test_a_polite_key_is_not_starved_by_a_greedy_keys_queue(gateway):
    assert wait_until(lambda: idle(gateway), DEADLINE), pool_health(gateway)
    before = len(asked(gateway))
    greedy = [Chat(gateway, KEYS["greedy"], f"greedy {n} [[sim:stall]]") for n in range(GREEDY_STREAMS)]
    polite = None
    try:
        queued = GREEDY_STREAMS - SLOTS
        assert wait_until(lambda: pool_health(gateway).get("queued") == queued, DEADLINE), pool_health(gateway)
        assert sum(chat.admitted.is_set() for chat in greedy) == SLOTS
        polite = Chat(gateway, KEYS["polite"], "polite [[sim:stall]]")
        assert wait_until(lambda: pool_health(gateway).get("queued") == queued + 1, DEADLINE)

        releases = 0
        while not polite.admitted.is_set():
            assert releases < 3, asked(gateway)[before:]
            holder = next(chat for chat in greedy if chat.admitted.is_set())
            greedy.remove(holder)
            count = len(asked(gateway))
            holder.hang_up()   # one slot frees: the queue's next chat is admitted
            releases += 1
            assert wait_until(lambda count=count: len(asked(gateway)) > count, DEADLINE)
            assert wait_until(lambda: polite.admitted.is_set()
                              or sum(chat.admitted.is_set() for chat in greedy) == SLOTS, DEADLINE)

        order = ["polite" if "polite" in text else "greedy" for text in asked(gateway)[before:]]
        # two greedy chats held the slots and 18 more queued before it: the polite chat is the
        # first one admitted from the queue, at the first release
        assert order == ["greedy"] * SLOTS + ["polite"] and releases == 1, order
        assert pool_health(gateway)["queued"] == queued   # the greedy queue still waits, whole
    finally:
        for chat in greedy + ([polite] if polite else []):
            chat.hang_up()
    assert wait_until(lambda: idle(gateway), DEADLINE), pool_health(gateway)


def test_a_hup_with_a_bad_keys_file_is_refused_and_the_gateway_goes_on(gateway, keys_path):
    since = len(gateway.lines)
    keys_path.write_text(key_file(KEYS) + "no good:sk-bad-5\n")
    gateway.proc.send_signal(signal.SIGHUP)
    refusal = ("reload refused, the gateway goes on unchanged: LINGMA_API_KEYS_FILE: line 7 has a"
               " name before ':' that is not 1-64 letters")
    assert wait_until(lambda: any(refusal in line for line in gateway.lines[since:]), DEADLINE), \
        gateway.lines[since:]
    assert gateway.proc.poll() is None
    assert post(gateway, KEYS["dave"], "/v1/models", method="GET")[0] == 200
    assert not any("sk-bad-5" in line for line in gateway.lines)


def test_after_the_keys_file_changes_a_hup_serves_the_new_keys(gateway, keys_path):
    assert post(gateway, KEYS["dave"], "/v1/models", method="GET")[0] == 200
    erin = "sk-erin-4"
    keys = {name: key for name, key in KEYS.items() if name != "dave"}
    keys_path.write_text(key_file({**keys, "erin": erin}))
    gateway.proc.send_signal(signal.SIGHUP)   # the master: it restarts the workers, which re-read the file
    assert wait_until(lambda: post(gateway, erin, "/v1/models", method="GET")[0] == 200, DEADLINE)
    last: dict = {}

    def dave_refused() -> bool:
        last["status"], _, last["body"] = post(gateway, KEYS["dave"], "/v1/models", method="GET")
        return last["status"] == 401

    assert wait_until(dave_refused, DEADLINE)
    assert last["body"]["error"]["code"] == "invalid_api_key"
    assert post(gateway, PLANTED, "/v1/models", method="GET")[0] == 200 and gateway.proc.poll() is None


@pytest.mark.parametrize("env, expected", [
    ({"LINGMA_API_KEYS": "alice:k1,alice:k2"},
     "error: LINGMA_API_KEYS: the name 'alice' is given to two keys; names must be unique"),
    ({"LINGMA_API_KEYS": "alice:k1", "LINGMA_KEY_LIMITS": '{"bob": {"rpm": 5}}'},
     "error: LINGMA_KEY_LIMITS names 'bob', which is no configured key (LINGMA_API_KEYS,"
     " LINGMA_API_KEYS_FILE); use a key's name or '*'"),
])
def test_a_bad_key_setting_stops_gunicorn_with_one_line(tmp_path, env, expected):
    code, lines = start_gunicorn(tmp_path, **env)
    assert code != 0 and lines == [expected], lines


def test_a_bad_keys_file_stops_gunicorn_with_one_line(tmp_path):
    path = tmp_path / "keys"
    path.write_text("alice:k1\nno good:k2\n")
    code, lines = start_gunicorn(tmp_path, LINGMA_API_KEYS_FILE=str(path))
    assert code != 0 and lines == [
        "error: LINGMA_API_KEYS_FILE: line 2 has a name before ':' that is not 1-64 letters, digits,"
        " '.', '_' or '-' (a key holding ':' needs a name: name:key)"], lines
