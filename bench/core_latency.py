"""Chunk latency of the Lingma core versus a bare websocket-client reader, same simulator, same run.

Measures the time from the simulator stamping a `chat/answer` (just before its socket write)
to the consumer receiving that chunk: through the full core (pool → instance → RpcConnection
bulk reader → ChatStream queue → consumer greenlet) and through a minimal baseline that pulls
one WebSocket message at a time with websocket-client, parses it and acks each push. Also the
"before" core: the same pool and RpcConnection, but with the reader design it replaced (one
WebSocket frame at a time through websocket-client's `recv_data()`, one ack write per push),
so the bulk reader's gain shows as before/after. All run under gevent (as in production)
against one simulator, at 1 and at 300 concurrent streams, alternating rounds so machine noise
hits all of them. Run: `python bench/core_latency.py` (`--no-before` skips the before variant).
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import websocket  # noqa: E402
from _common import median_ms  # noqa: E402
from _common import pct_ms  # noqa: E402
from _common import ratio  # noqa: E402
from _common import stamps_in  # noqa: E402
from _common import start_simulator  # noqa: E402

from lingma_flask.lingma import framing  # noqa: E402
from lingma_flask.lingma import instance as instance_module  # noqa: E402
from lingma_flask.lingma.errors import LingmaConnectionError  # noqa: E402
from lingma_flask.lingma.pool import LingmaPool  # noqa: E402
from lingma_flask.lingma.rpc import RpcConnection  # noqa: E402
from lingma_flask.lingma.settings import CoreSettings  # noqa: E402

PROMPT = "bench {i} [[sim:stamp=text]] [[sim:chunks={chunks}]] [[sim:delay={delay}]] [[sim:ttft=0.05]]"


class PerFrameRpcConnection(RpcConnection):
    """The "before" reader: websocket-client pulls one WebSocket frame per call, one ack write per push."""

    def connect(self):
        try:
            self._ws = websocket.create_connection(f"ws://127.0.0.1:{self.port}/", timeout=self._connect_timeout,
                                                   skip_utf8_validation=True, header=self._headers or [])
        except Exception as exc:
            raise LingmaConnectionError(f"cannot connect to Lingma on port {self.port}: {exc}") from exc
        self._ws.settimeout(None)
        self._sock = self._ws.sock  # sends (requests, acks) and close() keep using the raw socket
        self._reader = threading.Thread(target=self._read_loop, name=f"{self.name}-reader", daemon=True)
        self._reader.start()
        return self

    def _read_loop(self):
        try:
            while True:
                opcode, payload = self._ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    raise LingmaConnectionError("Lingma closed the WebSocket")
                outgoing = []
                for message in self._decoder.feed(payload):
                    self._dispatch(message, outgoing)
                for frame in outgoing:  # one write per ack
                    self._send_raw(frame)
        except (websocket.WebSocketException, OSError) as exc:
            error = LingmaConnectionError(f"lost the connection to Lingma: {exc}")
        except Exception as exc:  # noqa: BLE001 - LingmaError and bugs alike end the connection
            error = exc if isinstance(exc, LingmaConnectionError) else LingmaConnectionError(str(exc))
        self._fail_all(error)
        _close(self._sock)


def _close(sock):
    try:
        sock.close()
    except OSError:
        pass


def run_core(port: int, streams: int, chunks: int, delay: float, conn_class=RpcConnection) -> list[int]:
    """Consume `streams` concurrent answers through the core; return latencies in ns."""
    instance_module.RpcConnection = conn_class  # the class the instance builds its connection from
    pool = LingmaPool(CoreSettings(socket_port=port, max_concurrency=streams + 10, queue_timeout=30,
                                   work_dir=tempfile.mkdtemp(prefix="lingma-bench-")))
    pool.start()
    assert pool.wait_ready(30), pool.health()
    samples: list[int] = []

    def consume(i):
        for chunk in pool.ask(PROMPT.format(i=i, chunks=chunks, delay=delay), None):
            now = time.monotonic_ns()
            samples.extend(now - s for s in stamps_in(chunk))

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    pool.stop()
    instance_module.RpcConnection = RpcConnection
    return samples


def run_bare(port: int, streams: int, chunks: int, delay: float) -> list[int]:
    """The baseline: websocket-client recv() per message, one ack send per push."""
    ws = websocket.create_connection(f"ws://127.0.0.1:{port}/", skip_utf8_validation=True, timeout=60)
    decoder = framing.FrameDecoder()
    ws.send(framing.encode({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}))
    for i in range(streams):
        ws.send(framing.encode({"jsonrpc": "2.0", "method": "chat/ask", "params": {
            "requestId": f"bare-{i}", "sessionId": f"s-{i}", "sessionType": "chat", "mode": "chat",
            "questionText": PROMPT.format(i=i, chunks=chunks, delay=delay)}}))
    samples, finished = [], 0
    while finished < streams:
        data = ws.recv()
        now = time.monotonic_ns()
        for msg in decoder.feed(data.encode() if isinstance(data, str) else data):
            if "method" in msg and "id" in msg:
                ws.send(framing.encode({"jsonrpc": "2.0", "id": msg["id"], "result": {}}))
            if msg.get("method") == "chat/answer":
                samples.extend(now - s for s in stamps_in(msg["params"].get("text", "")))
            elif msg.get("method") == "chat/finish":
                finished += 1
    ws.close()
    return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--streams", default="1,300")
    parser.add_argument("--no-before", action="store_true", help="skip the per-frame reader (before) variant")
    args = parser.parse_args()
    proc, tmp = start_simulator()
    try:
        print(f"simulator pid {proc.pid} port {proc.port}; {args.rounds} alternating rounds, "
              f"{args.chunks} chunks/stream {args.delay * 1000:.0f} ms apart")
        for streams in [int(s) for s in args.streams.split(",")]:
            core, bare, before = [], [], []
            for _ in range(args.rounds):
                bare += run_bare(proc.port, streams, args.chunks, args.delay)
                core += run_core(proc.port, streams, args.chunks, args.delay)
                if not args.no_before:
                    before += run_core(proc.port, streams, args.chunks, args.delay, PerFrameRpcConnection)
            print(f"{streams:4d} streams: core median {median_ms(core):.3f} ms p99 {pct_ms(core, .99):.3f} ms "
                  f"({len(core)} chunks) | bare websocket-client median {median_ms(bare):.3f} ms "
                  f"p99 {pct_ms(bare, .99):.3f} ms ({len(bare)} chunks) | median ratio core/bare "
                  f"{ratio(median_ms(core), median_ms(bare))}")
            if before:
                print(f"      before (core with the per-frame websocket-client reader): median "
                      f"{median_ms(before):.3f} ms p99 {pct_ms(before, .99):.3f} ms ({len(before)} chunks) | "
                      f"after/before median {ratio(median_ms(core), median_ms(before))}, "
                      f"p99 {ratio(pct_ms(core, .99), pct_ms(before, .99))}")
    finally:
        proc.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
