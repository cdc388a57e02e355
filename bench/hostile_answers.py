"""Hostile model answers and client schemas: what one such request costs the worker and the others.

Runs the real gateway (gunicorn, one gevent worker, the simulator). The simulator's
`answer=B64` marker makes Lingma answer with exactly the hostile text. While a streamed chat
flows and a poller asks `/health` every 20 ms, each hostile request is sent in turn and these
are printed: its status, the worker's CPU seconds over it (from /proc), the worker's peak RSS
(VmHWM, reset before each case), the longest `/health` answer and the longest gap between the
flowing stream's chunks while it ran, and whether the worker survived. The baseline, taken in
the same run, is an ordinary small chat. Targets (issue 13): every case under 1 s of CPU and
300 MB, no stall of another stream over 250 ms, the worker never killed.

    python bench/hostile_answers.py
"""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path

import requests
from _common import ROOT  # noqa: F401 - puts the repo on sys.path
from _common import children_of
from _common import gateway_pids
from _common import proc_cpu_s
from _common import proc_status_kb
from _common import sse_chat
from _common import start_gateway
from _common import stop_gateway

KEY = "test-key-123"
SPACES = 5_000


def marker(answer: str) -> str:
    """The simulator marker that makes Lingma answer exactly `answer`."""
    b64 = base64.urlsafe_b64encode(answer.encode()).decode().rstrip("=")
    return f"[[sim:answer={b64},chunk=4096,delay=0]]"


def chat(prompt: str, **extra) -> dict:
    """A chat completion body whose user turn is `prompt`."""
    return {"model": "auto", "messages": [{"role": "user", "content": prompt}], **extra}


def json_format(schema: dict) -> dict:
    """A `response_format` asking for JSON that follows `schema`."""
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}


def tool(name: str, parameters: dict) -> dict:
    """One offered function."""
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


def doubling_chain(k: int) -> dict:
    """A small schema whose `$ref`/`allOf` chain expands to 2**k nodes."""
    defs = {f"d{i}": {"allOf": [{"$ref": f"#/$defs/d{i + 1}"}] * 2} for i in range(k)}
    defs[f"d{k}"] = {"type": "string"}
    return {"type": "object", "properties": {"v": {"$ref": "#/$defs/d0"}}, "$defs": defs}


def fan_out(width: int, depth: int) -> dict:
    """A schema whose `anyOf` branches each point at the next level: width**depth paths."""
    defs = {f"d{i}": {"anyOf": [{"$ref": f"#/$defs/d{i + 1}"}] * width} for i in range(depth)}
    defs[f"d{depth}"] = {"type": "integer"}
    return {"type": "object", "properties": {"v": {"$ref": "#/$defs/d0"}}, "$defs": defs}


def big_schema(seed: int, size: int = 900_000) -> dict:
    """A tool schema of about `size` bytes: many optional string properties."""
    count = size // 82   # each property is about 82 bytes of JSON
    props = {f"p{seed}_{i:06d}": {"type": "string", "description": "x" * 30} for i in range(count)}
    return {"type": "object", "properties": props}


def xml_call(name: str, parameter: str, value: str) -> str:
    """A Qwen3-Coder XML tool call block."""
    return (f"<tool_call>\n<function={name}>\n<parameter={parameter}>\n{value}\n</parameter>\n"
            "</function>\n</tool_call>")


def cases() -> list[tuple[str, dict]]:
    """(name, chat body) for each hostile case; sizes are those that froze or killed main."""
    fence = "```" + " " * SPACES + "x"
    calls500 = "".join('<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>\n' for _ in range(500))
    flood = "".join("<tool_call>\nnot json\n</tool_call>\n" for _ in range(5_000))
    unique = {"type": "object", "properties": {"items": {"type": "array", "uniqueItems": True}}}
    objects = json.dumps({"items": [{"i": i, "tag": "same"} for i in range(3_000)]})
    return [
        ("fence + 5k spaces, json_object", chat(marker(fence), response_format={"type": "json_object"})),
        ("fence + 100k spaces, streamed", chat(marker("```" + " " * 100_000 + "x"), stream=True,
                                               response_format={"type": "json_object"})),
        ("XML call, 3k spaces in a value", chat(marker(xml_call("f", "a", " " * 3_000 + "x")),
                                                tools=[tool("f", {"type": "object"})])),
        ("XML call, 100k unclosed", chat(marker("<tool_call>\n<function=f>\n<parameter=a>"
                                                + " " * 100_000),
                                         tools=[tool("f", {"type": "object"})])),
        ("pattern ^(a+)+$ vs 30 a's + !", chat(marker(json.dumps({"v": "a" * 30 + "!"})),
                                               response_format=json_format(
            {"type": "object", "properties": {"v": {"type": "string", "pattern": "^(a+)+$"}}}))),
        ("allOf/$ref chain 2^22", chat(marker('{"v": "x"}'), response_format=json_format(doubling_chain(22)))),
        ("allOf/$ref chain 2^30, a tool", chat(marker("hi"), tools=[tool("f", doubling_chain(30))])),
        ("anyOf fan-out 20^8, XML call", chat(marker(xml_call("f", "v", "7")), tools=[tool("f", fan_out(20, 8))])),
        ("uniqueItems, 3,000 objects", chat(marker(objects), response_format=json_format(unique))),
        ("500 calls vs a 0.9 MB schema", chat(marker(calls500), tools=[tool("f", big_schema(0))])),
        ("5,000 broken call blocks", chat(marker(flood), tools=[tool("f", {"type": "object"})])),
    ]


class Watch:
    """A /health poller and a flowing stream, recording the longest stall of each."""

    def __init__(self, url: str, port: int):
        self.url, self.port = url, port
        self.health_ms, self.gaps_ms = [], []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._poll, daemon=True),
                        threading.Thread(target=self._flow, daemon=True)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def reset(self) -> None:
        self.health_ms.clear()
        self.gaps_ms.clear()

    def _poll(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            began = time.monotonic()
            try:
                session.get(self.url + "/health", timeout=60)
            except requests.RequestException:
                pass
            self.health_ms.append((time.monotonic() - began) * 1000)
            self.stop.wait(0.02)

    def _flow(self) -> None:
        last = [time.monotonic_ns()]

        def on_content(text, now):
            self.gaps_ms.append((now - last[0]) / 1e6)
            last[0] = now
        while not self.stop.is_set():
            try:
                sse_chat(self.port, "flow [[sim:len=20000,chunk=20,delay=0.01]]", KEY, on_content)
            except (OSError, RuntimeError):
                self.stop.wait(0.2)
            last[0] = time.monotonic_ns()


def measure(url: str, worker: int, body: dict) -> tuple[str, float, float]:
    """Send one request; return (status and error code, worker CPU s, worker peak MB)."""
    Path(f"/proc/{worker}/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    cpu = proc_cpu_s(worker)
    try:
        resp = requests.post(url + "/v1/chat/completions", json=body, timeout=120,
                             headers={"Authorization": f"Bearer {KEY}"})
        text = resp.text
        code = ""
        if resp.status_code != 200:
            code = resp.json().get("error", {}).get("code", "")
        elif '"error"' in text and body.get("stream"):
            code = "error event"
        status = f"{resp.status_code} {code}".strip()
    except requests.RequestException as exc:
        status = f"failed: {type(exc).__name__}"
    try:
        return status, proc_cpu_s(worker) - cpu, proc_status_kb(worker, "VmHWM") / 1024
    except (OSError, KeyError):
        return status + " (worker gone)", float("nan"), float("nan")


def distinct_schemas(url: str, worker: int, count: int = 30) -> float:
    """Send `count` chats that each offer a distinct 0.9 MB schema; return the RSS growth in MB."""
    before = proc_status_kb(worker, "VmRSS")
    call = '<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>'
    for seed in range(1, count + 1):
        measure(url, worker, chat(marker(call), tools=[tool("f", big_schema(seed))]))
    return (proc_status_kb(worker, "VmRSS") - before) / 1024


def main() -> None:
    gateway = start_gateway(LINGMA_API_KEYS=KEY, LINGMA_MAX_BODY_BYTES=str(16 * 1024 * 1024))
    watch = None
    try:
        worker, _, _ = gateway_pids(gateway)
        port = int(gateway.url.rsplit(":", 1)[1])
        normal = chat("hi")
        for _ in range(3):
            measure(gateway.url, worker, normal)  # warm up
        base = measure(gateway.url, worker, normal)
        watch = Watch(gateway.url, port)
        watch.start()
        time.sleep(1.0)
        print(f"baseline (ordinary chat): status {base[0]}, CPU {base[1] * 1000:.0f} ms, "
              f"peak RSS {base[2]:.0f} MB")
        print(f"{'case':34} {'status':>26} {'CPU s':>7} {'peak MB':>8} {'/health max ms':>14} "
              f"{'stream gap ms':>13} {'worker':>7}")
        worst = {"cpu": 0.0, "mb": 0.0, "stall": 0.0}
        killed = 0
        for name, body in cases():
            watch.reset()
            status, cpu, peak = measure(gateway.url, worker, body)
            watch.stop.wait(0.3)  # let the poller and the stream report the tail of the case
            health = max(watch.health_ms, default=0.0)
            gap = max(watch.gaps_ms, default=0.0)
            alive = children_of(gateway.proc.pid) == [worker]
            killed += not alive
            if not alive:
                worker = children_of(gateway.proc.pid)[0]
            worst["cpu"], worst["mb"] = max(worst["cpu"], cpu), max(worst["mb"], peak)
            worst["stall"] = max(worst["stall"], health, gap)
            print(f"{name:34} {status:>26} {cpu:>7.3f} {peak:>8.0f} {health:>14.0f} {gap:>13.0f} "
                  f"{'same' if alive else 'KILLED':>7}")
        growth = distinct_schemas(gateway.url, worker)
        print(f"30 chats, each with its own 0.9 MB tool schema: worker RSS +{growth:.0f} MB")
        print(f"worst: CPU {worst['cpu']:.3f} s (target < 1 s), peak RSS {worst['mb']:.0f} MB "
              f"(target < 300 MB), longest stall {worst['stall']:.0f} ms (target < 250 ms), "
              f"workers killed {killed} (target 0); baseline CPU {base[1] * 1000:.0f} ms")
    finally:
        if watch is not None:
            watch.stop.set()
        stop_gateway(gateway)


if __name__ == "__main__":
    main()
