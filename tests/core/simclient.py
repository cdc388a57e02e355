"""Drive a Lingma simulator subprocess over a bare WebSocket: the helpers the simulator tests share.

`Sim` runs one simulator process with its own work dir and ports; `Client` speaks the wire
protocol itself (framing.encode / FrameDecoder), acks pushes and buffers what arrives.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import websocket

from lingma_flask.lingma.framing import FrameDecoder
from lingma_flask.lingma.framing import encode
from lingma_flask.lingma.procutil import free_port
from lingma_flask.lingma.procutil import port_open

REPO = Path(__file__).resolve().parents[2]
MODULE = "lingma_flask.simulator"
PUSHES = {"chat/answer", "chat/finish", "chat/process_step_callback", "session/title/update",
          "chat/think", "tool/invoke", "image/uploadResultNotification",
          "session/update", "task/status/sync"}   # the last two: the ACP surface's


def poll(condition, timeout=10.0, what="condition", *, interval=0.02):
    """Return condition()'s first truthy value, checking every `interval` s until the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)



def terminate(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """Stop a simulator process: TERM, then KILL if it is still there after `grace` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

class Sim:
    """One simulator subprocess with its own work dir and ports."""

    def __init__(self, root: Path, env: dict | None = None, *, work: Path | None = None, args=()):
        self.work = work or root / ("wd-" + uuid.uuid4().hex[:6])
        self.port, self.http_port = free_port(), free_port()
        self.err_path = root / ("stderr-" + uuid.uuid4().hex[:6])
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("LINGMA_SIM_")}
        full_env.update(env or {})
        full_env["PYTHONPATH"] = str(REPO)
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", MODULE, "start", "--workDir", str(self.work),
                 "--socketPort", str(self.port), "--httpPort", str(self.http_port), *args],
                cwd=REPO, env=full_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err)

    def wait_ready(self, timeout=15.0) -> Sim:
        poll(lambda: self.info_lines() and port_open(self.port), timeout, "simulator .info + port")
        return self

    def info_lines(self):
        try:
            return (self.work / ".info").read_text().split()
        except FileNotFoundError:
            return None

    def http(self, path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=5) as resp:
            body = resp.read()
        return json.loads(body) if body.startswith((b"{", b"[")) else body.decode()

    def get(self, path: str) -> tuple[int, str]:
        """GET a control URL; (status, body text), also for 4xx answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def state(self) -> dict:
        return self.http("/sim/state")

    def log(self, name="lingma.log") -> str:
        return (self.work / "logs" / name).read_text(encoding="utf-8")

    def client(self, **kwargs) -> Client:
        return Client(self.port, **kwargs)

    def stop(self) -> None:
        terminate(self.proc)


class Client:
    """A bare WebSocket JSON-RPC peer: acks pushes (unless told not to), buffers messages."""

    def __init__(self, port: int, *, path="/", auto_ack=True, initialize=True):
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=5)
        self.decoder = FrameDecoder()
        self.inbox: collections.deque = collections.deque()
        self.auto_ack = auto_ack
        self.ids = itertools.count(1)
        self.ws_messages = 0
        self.binary_messages = 0
        self.closed = False
        if initialize:
            self.request("initialize", {"processId": None, "capabilities": {}})

    # sending -------------------------------------------------------------------
    def send(self, message, *, binary=False) -> None:
        self.send_raw(encode(message), binary=binary)

    def send_raw(self, data: bytes, *, binary=True) -> None:
        if binary:
            self.ws.send_binary(data)
        else:
            self.ws.send(data.decode("utf-8"))

    def ack(self, message) -> None:
        self.send({"jsonrpc": "2.0", "id": message["id"], "result": {}})

    def request(self, method, params=None, *, msg_id=None, timeout=5.0):
        msg_id = next(self.ids) if msg_id is None else msg_id
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params or {}})
        return self.next(lambda m: "method" not in m and m.get("id") == msg_id, timeout)

    def ask(self, prompt: str, *, request_id=None, msg_id=None, **params) -> str:
        request_id = request_id or uuid.uuid4().hex
        body = {"requestId": request_id, "sessionId": "", "sessionType": "chat",
                "chatTask": "FREE_INPUT", "mode": "chat", "questionText": prompt, "stream": True,
                "source": 1, "isReply": False, "extra": {"modelConfig": {"key": "auto"}}}
        body.update(params)
        message = {"jsonrpc": "2.0", "method": "chat/ask", "params": body}
        if msg_id is not None:
            message["id"] = msg_id
        self.send(message)
        return request_id

    # receiving -----------------------------------------------------------------
    def pump(self, timeout: float) -> None:
        """Read one WebSocket message (raises on timeout / close)."""
        self.ws.settimeout(max(timeout, 0.01))
        opcode, data = self.ws.recv_data()
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            self.closed = True
            raise websocket.WebSocketConnectionClosedException("closed by the simulator")
        self.ws_messages += 1
        self.binary_messages += opcode == websocket.ABNF.OPCODE_BINARY
        for message in self.decoder.feed(data):
            if self.auto_ack and message.get("method") in PUSHES and "id" in message:
                self.ack(message)
            self.inbox.append(message)

    def next(self, predicate, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            for message in self.inbox:
                if predicate(message):
                    self.inbox.remove(message)
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no matching message within %.1fs" % timeout)
            try:
                self.pump(remaining)
            except websocket.WebSocketTimeoutException:
                pass

    def quiet(self, seconds: float) -> list:
        """Everything that arrives within `seconds` (used to assert silence)."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                self.pump(remaining)
            except websocket.WebSocketTimeoutException:
                break
        out = list(self.inbox)
        self.inbox.clear()
        return out

    def collect(self, request_id: str, timeout=5.0) -> list:
        """Every push of one ask, up to and including its chat/finish."""
        out = []
        while True:
            message = self.next(lambda m: rid(m) == request_id, timeout)
            out.append(message)
            if message.get("method") == "chat/finish":
                return out

    def close(self) -> None:
        self.ws.close(timeout=1)


def rid(message):
    params = message.get("params")
    return params.get("requestId") if isinstance(params, dict) else None


def answer_text(pushes) -> str:
    return "".join(m["params"]["text"] for m in pushes if m["method"] == "chat/answer")


def finish_of(pushes) -> dict:
    assert pushes[-1]["method"] == "chat/finish"
    return pushes[-1]["params"]
