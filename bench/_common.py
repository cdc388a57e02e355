"""Shared helpers for the benchmarks: a simulator process, stamps, percentiles."""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.integration.gateway import children_of  # noqa: E402,F401 - the benchmarks use it too

STAMP = re.compile(r"\|(\d{9,})\|")  # the simulator's `stamp=text` prefix: |<monotonic_ns>|


def start_simulator(env_note: str = ""):
    """Start one simulator process; return (LingmaProcess, temp dir object)."""
    from lingma_flask.lingma import discovery
    from lingma_flask.lingma import process

    tmp = tempfile.TemporaryDirectory(prefix="lingma-bench-")
    proc = process.LingmaProcess(discovery.simulator_command(), Path(tmp.name) / "sim", startup_timeout=30)
    proc.start()
    return proc, tmp


def stamps_in(text: str) -> list[int]:
    """Return the send stamps (ns) found in a chunk of stamp-mode answer text."""
    return [int(value) for value in STAMP.findall(text)]


def median_ms(values_ns) -> float:
    """Median of nanosecond samples, in milliseconds."""
    return statistics.median(values_ns) / 1e6 if values_ns else float("nan")


def pct_ms(values_ns, q: float) -> float:
    """The q-quantile (0..1) of nanosecond samples, in milliseconds."""
    if not values_ns:
        return float("nan")
    ordered = sorted(values_ns)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


def ratio(a: float, b: float) -> str:
    """Format a/b as a ratio."""
    return f"{a / b:.2f}x" if b else "n/a"


def print_spread(label: str, ratios: list[float], pair: str = "this / base") -> None:
    """Per-round ratios of two peers whose rounds ran back to back: the median of those is
    steadier than the ratio of the totals when the machine's load drifts during a run."""
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    print(f"{label}, {pair} by round ({len(ratios)} rounds): median "
          f"{statistics.median(ratios):.3f}, middle half {quartiles[0]:.3f}-{quartiles[2]:.3f}, "
          f"all {min(ratios):.3f}-{max(ratios):.3f}")


# -- the real gateway (gunicorn + gevent worker) in a subprocess ---------------------------


def raise_nofile() -> int:
    """Raise this process's open-file limit to the hard limit (children inherit it)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def start_gateway(config: str = "gunicorn.conf.py", app: str = "wsgi:app", root: Path = ROOT, **env):
    """Start gunicorn (one gevent worker) serving the app against its own simulator.

    Reuses `tests/integration/gateway.Gateway`, but sends gunicorn's output to a file instead
    of a pipe: the worker writes an access-log line per request with a blocking write, and a
    pipe drained by a busy benchmark process could stall the worker's whole hub.
    `app` is the WSGI app gunicorn serves (`bench/seed_compare.py` serves a bare floor app);
    `root` the source tree it runs from (`bench/ab_compare.py` runs an older commit's).
    Returns the started gateway; call `.stop()` (and `.cleanup()`) in a `finally`.
    """
    import subprocess
    import time

    from tests.integration.gateway import GUNICORN
    from tests.integration.gateway import Gateway

    class FileLogGateway(Gateway):
        def start(self, timeout: float = 60.0):
            self.log_path = self.work_dir / "gunicorn.log"
            self._log = open(self.log_path, "w")
            self.proc = subprocess.Popen(
                [str(GUNICORN), "-c", config, "-b", "127.0.0.1:0", app],
                cwd=root, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + timeout
            while not self.url:
                self._check_alive(deadline)
                match = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", self.log_path.read_text())
                if match:
                    self.url = match.group(1)
                time.sleep(0.05)
            while not self.ready():
                self._check_alive(deadline)
                time.sleep(0.1)
            return self

        def _check_alive(self, deadline):
            self.lines = self.log_path.read_text().splitlines(keepends=True)
            super()._check_alive(deadline)

        def cleanup(self):
            if getattr(self, "_log", None):
                self._log.close()
            self._tmp.cleanup()

    tmp = tempfile.TemporaryDirectory(prefix="lingma-bench-gw-")
    defaults = {"LINGMA_SIM_FRAME_LOG": "0", "LINGMA_LOG_LEVEL": "WARNING"}
    gateway = FileLogGateway(Path(tmp.name), **{**defaults, **env})
    gateway._tmp = tmp
    try:
        gateway.start()
    except BaseException:
        stop_gateway(gateway)
        raise
    return gateway


def stop_gateway(gateway) -> None:
    """Stop a gateway from `start_gateway` and remove its files; never raises."""
    try:
        gateway.stop(timeout=30)
    except Exception as exc:  # noqa: BLE001 - best effort in a finally
        print(f"warning: gateway stop: {exc}")
    # the worker stops its simulator on exit; make sure nothing of ours is left behind
    for pid, cmdline in getattr(gateway, "known_pids", {}).items():
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes() == cmdline:  # still ours, not a reused pid
                os.kill(pid, 9)
        except OSError:
            pass
    gateway.cleanup()


def gateway_pids(gateway) -> tuple[int, int, int]:
    """Return (worker pid, simulator pid, simulator socket port) of a one-worker gateway."""
    workers = children_of(gateway.proc.pid)
    if len(workers) != 1:
        raise RuntimeError(f"expected one gunicorn worker under {gateway.proc.pid}, found {workers}")
    instance = gateway.health()[1]["instances"][0]
    gateway.known_pids = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in (workers[0], instance["pid"])}
    return workers[0], instance["pid"], instance["port"]


def proc_status_kb(pid: int, field: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmHWM = peak RSS, VmRSS = current)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid`."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- a cheap streaming HTTP client (raw socket, one greenlet per stream) -------------------

def sse_chat(port: int, prompt: str, api_key: str, on_content, timeout: float = 120.0) -> int:
    """POST a streamed chat completion and call `on_content(text, recv_ns)` per content delta."""
    import json

    body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": prompt}]}

    def on_data(payload, now):
        message = json.loads(payload)
        if "error" in message:
            raise RuntimeError(f"error frame: {message['error']}")
        for choice in message.get("choices", ()):
            text = (choice.get("delta") or {}).get("content")
            if text:
                on_content(text, now)

    return sse_request(port, "/v1/chat/completions", body, {"Authorization": f"Bearer {api_key}"},
                       on_data, timeout)


class StreamEnd(Exception):
    """Raised by an `on_data` callback when the stream's last event has arrived."""


def sse_request(port: int, path: str, body: dict, headers: dict, on_data, timeout: float = 120.0) -> int:
    """POST `body` to a streaming route over a raw socket; call `on_data(data, recv_ns)` per event.

    HTTP/1.1 with a minimal chunked decoder; `recv_ns` is `time.monotonic_ns()` taken as soon
    as the bytes holding the event came out of `recv`. The stream ends at `data: [DONE]`, when
    `on_data` raises StreamEnd, or when the body ends. Returns the HTTP status.
    """
    import json
    import socket

    raw_body = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + f"Accept: text/event-stream\r\nContent-Length: {len(raw_body)}\r\nConnection: close\r\n\r\n")
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(head.encode() + raw_body)
        return _read_events(sock, on_data)
    finally:
        sock.close()


def _read_events(sock, on_data) -> int:
    import time

    raw, status, chunked, events, need, ended = b"", None, False, b"", None, False
    while not ended:
        data = sock.recv(65536)
        now = time.monotonic_ns()
        if not data:
            if status is not None:
                return status
            raise ConnectionError("the gateway closed the connection before answering")
        raw += data
        if status is None:
            end = raw.find(b"\r\n\r\n")
            if end < 0:
                continue
            header_block, raw = raw[:end].decode("latin-1"), raw[end + 4:]
            status = int(header_block.split(" ", 2)[1])
            chunked = "transfer-encoding: chunked" in header_block.lower()
            if status != 200:
                return status
        if chunked:
            while True:
                if need is None:
                    eol = raw.find(b"\r\n")
                    if eol < 0:
                        break
                    need = int(raw[:eol].split(b";")[0], 16) + 2
                    raw = raw[eol + 2:]
                    if need == 2:
                        ended = True  # the last chunk: its events before it are still read
                        break
                if len(raw) < need:
                    break
                events += raw[:need - 2]
                raw, need = raw[need:], None
        else:
            events, raw = events + raw, b""
        while True:
            end = events.find(b"\n\n")
            if end < 0:
                break
            event, events = events[:end], events[end + 2:]
            payload = next((line[6:] for line in event.split(b"\n") if line.startswith(b"data: ")), None)
            if payload is None:
                continue  # a keepalive comment
            if payload == b"[DONE]":
                return status
            try:
                on_data(payload, now)
            except StreamEnd:
                return status
    return status


def strip_stamps(text: str) -> str:
    """Remove the simulator's `|<ns>|` stamps from answer text."""
    return STAMP.sub("", text)


def pss_kb(pid: int) -> int:
    """Proportional set size (kB) of process `pid`, from /proc/<pid>/smaps_rollup."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise KeyError("Pss")
