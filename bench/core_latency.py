"""Chunk latency of the Lingma core versus a bare websocket-client reader, same simulator, same run.

Measures the time from the simulator stamping a `chat/answer` (just before its socket write)
to the consumer receiving that chunk: through the full core (pool → instance → RpcConnection
bulk reader → ChatStream queue → consumer greenlet) and through a minimal baseline that pulls
one WebSocket message at a time with websocket-client, parses it and acks each push. Both run
under gevent (as in production) against one simulator, at 1 and at 300 concurrent streams,
alternating rounds so machine noise hits both. Run: `python bench/core_latency.py`.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import websocket  # noqa: E402

from _common import median_ms, pct_ms, ratio, stamps_in, start_simulator  # noqa: E402
from lingma_flask.lingma import framing  # noqa: E402
from lingma_flask.lingma.pool import LingmaPool  # noqa: E402
from lingma_flask.lingma.settings import CoreSettings  # noqa: E402

PROMPT = "bench {i} [[sim:stamp]] [[sim:chunks={chunks}]] [[sim:delay={delay}]] [[sim:ttft=0.05]]"


def run_core(port: int, streams: int, chunks: int, delay: float) -> list[int]:
    """Consume `streams` concurrent answers through the core; return latencies in ns."""
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
    args = parser.parse_args()
    proc, tmp = start_simulator()
    try:
        print(f"simulator pid {proc.pid} port {proc.port}; {args.rounds} alternating rounds, "
              f"{args.chunks} chunks/stream {args.delay * 1000:.0f} ms apart")
        for streams in [int(s) for s in args.streams.split(",")]:
            core, bare = [], []
            for _ in range(args.rounds):
                bare += run_bare(proc.port, streams, args.chunks, args.delay)
                core += run_core(proc.port, streams, args.chunks, args.delay)
            print(f"{streams:4d} streams: core median {median_ms(core):.3f} ms p99 {pct_ms(core, .99):.3f} ms "
                  f"({len(core)} chunks) | bare websocket-client median {median_ms(bare):.3f} ms "
                  f"p99 {pct_ms(bare, .99):.3f} ms ({len(bare)} chunks) | median ratio core/bare "
                  f"{ratio(median_ms(core), median_ms(bare))}")
    finally:
        proc.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
