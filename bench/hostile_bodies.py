"""Hostile request bodies at the size limit: the worker's CPU time and peak memory per body.

Runs the real gateway (gunicorn, one gevent worker, the simulator). A streamed chat flows the
whole time; each hostile body (16 MiB, just under LINGMA_MAX_BODY_BYTES) is posted in turn and
the worker's CPU seconds (from /proc), its peak RSS over the request (VmHWM, reset before each
body) and the longest gap between the flowing stream's chunks are printed. The baseline, taken
in the same run, is an ordinary small chat; ratios are against it. Targets: under 1 s of CPU
and under 300 MB peak per body, while the other stream keeps flowing.

    python bench/hostile_bodies.py
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import requests
from _common import ROOT  # noqa: F401 - puts the repo on sys.path
from _common import gateway_pids
from _common import proc_cpu_s
from _common import proc_status_kb
from _common import sse_chat
from _common import start_gateway
from _common import stop_gateway

LIMIT = 16 * 1024 * 1024
KEY = "test-key-123"


def bodies() -> dict[str, bytes]:
    """Hostile bodies just under the 16 MiB limit, and one just over it."""
    size = LIMIT - 64

    def filled(prefix: bytes, unit: bytes, suffix: bytes) -> bytes:
        return prefix + unit * ((size - len(prefix) - len(suffix)) // len(unit)) + suffix
    msg = b'{"messages": [{"role": "user", "content": "'
    return {
        "4.5M tiny items": filled(b'{"messages": [', b"5,", b"5]}"),
        "5.6M empty arrays": filled(b'{"messages": [', b"[],", b"[]]}"),
        "5.6M empty objects": filled(b'{"messages": [', b"{},", b"{}]}"),
        "8M-deep nesting": b"[" * (size // 2) + b"]" * (size // 2),
        "5.6M empty strings": filled(b'{"x": [', b'"",', b'""]}'),
        "8M escapes": filled(msg, b"\\n", b'"}]}'),
        "2.8M lone surrogates": filled(msg, b"\\ud800", b'"}]}'),
        "16k messages x 1000 chars": filled(b'{"messages": [', b'{"role": "user", "content": "' + b"a" * 1000 + b'"},',
                                           b'{"role": "user", "content": "end"}]}'),
        "1M-char prompt x 16": filled(msg, b"a", b'"}]}'),
        "over the limit": b'{"x": "' + b"a" * LIMIT + b'"}',
    }


def messages_bodies() -> dict[str, bytes]:
    """Bodies for POST /v1/messages: 16 MiB of CJK text (was counted and rendered twice: 2.9 s)."""
    text = "汉字测试文本" * ((LIMIT - 256) // 18)
    message = {"model": "claude-x", "max_tokens": 16, "messages": [{"role": "user", "content": text}]}
    return {"16M CJK on /v1/messages": json.dumps(message, ensure_ascii=False).encode()}


def cases():
    """Every (name, path, body) to post: the chat bodies, then the /v1/messages ones."""
    yield from ((name, "/v1/chat/completions", body) for name, body in bodies().items())
    yield from ((name, "/v1/messages", body) for name, body in messages_bodies().items())


def flowing_stream(port: int, gaps: list, stop: threading.Event) -> None:
    """Keep a long streamed chat going; record the gaps between its chunks."""
    last = [time.monotonic_ns()]

    def on_content(text, now):
        gaps.append(now - last[0])
        last[0] = now
    while not stop.is_set():
        try:
            sse_chat(port, "flow [[sim:len=20000,chunk=20,delay=0.01]]", KEY, on_content)
        except (OSError, RuntimeError):
            if not stop.is_set():
                raise


def measure(url: str, worker: int, body: bytes,
            path: str = "/v1/chat/completions") -> tuple[str, float, float, float]:
    """Post one body; return (status and error code, CPU s, peak MB, wall s)."""
    Path(f"/proc/{worker}/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    cpu, began = proc_cpu_s(worker), time.monotonic()
    resp = requests.post(url + path, data=body, timeout=120,
                         headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    wall = time.monotonic() - began
    error = resp.json().get("error", {}) if resp.status_code != 200 else {}
    code = error.get("code") or error.get("type", "")
    status = f"{resp.status_code} {code}".strip()
    return status, proc_cpu_s(worker) - cpu, proc_status_kb(worker, "VmHWM") / 1024, wall


def main() -> None:
    gateway = start_gateway(LINGMA_MAX_BODY_BYTES=str(LIMIT), LINGMA_API_KEYS=KEY)
    try:
        worker, _, _ = gateway_pids(gateway)
        port = int(gateway.url.rsplit(":", 1)[1])
        normal = b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}]}'
        for _ in range(3):
            measure(gateway.url, worker, normal)  # warm up
        base = measure(gateway.url, worker, normal)
        gaps, stop = [], threading.Event()
        flow = threading.Thread(target=flowing_stream, args=(port, gaps, stop), daemon=True)
        flow.start()
        time.sleep(1.0)
        print(f"baseline (ordinary chat): status {base[0]}, CPU {base[1] * 1000:.0f} ms, "
              f"peak RSS {base[2]:.0f} MB")
        print(f"{'body':28} {'status':>28} {'CPU s':>7} {'CPU/base':>9} {'peak MB':>8} "
              f"{'peak/base':>9} {'wall s':>7} {'max gap ms':>10}")
        worst_cpu = worst_mb = 0.0
        for name, path, body in cases():
            gaps.clear()
            status, cpu, peak, wall = measure(gateway.url, worker, body, path)
            gap = max(gaps, default=0) / 1e6
            worst_cpu, worst_mb = max(worst_cpu, cpu), max(worst_mb, peak)
            print(f"{name:28} {status:>28} {cpu:>7.3f} {cpu / max(base[1], 1e-3):>8.0f}x "
                  f"{peak:>8.0f} {peak / base[2]:>8.2f}x {wall:>7.2f} {gap:>10.0f}")
        stop.set()
        print(f"worst: CPU {worst_cpu:.3f} s (target < 1 s), peak RSS {worst_mb:.0f} MB (target < 300 MB)")
    finally:
        stop_gateway(gateway)


if __name__ == "__main__":
    main()
