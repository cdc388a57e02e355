"""Added time-to-first-token of the real gateway versus a direct client of the core, same simulator, same run.

"Added TTFT" = the moment the client has the first content chunk − the moment the simulator
sent it (its `[[sim:stamp=text]]` prefix, CLOCK_MONOTONIC, comparable across processes), so
the simulator's own first-token delay is not counted. Gateway: gunicorn with one gevent
worker (`tests/integration/gateway.py`), spoken to by a raw-socket HTTP/1.1 client in
greenlets, reading the SSE stream. Baseline: `LingmaPool` in attach mode in this process, on
the gateway's own simulator, consumed in greenlets (as in production: gevent). At 1 stream
(one at a time), 100 and 300 concurrent streams, rounds alternating gateway / core.
Targets: added TTFT < 3 ms one at a time, < 40 ms median at 300 concurrent streams.
Then, on the same gateway, `bench/faces_ttft.py`'s comparisons: added TTFT through
`/v1/responses` and `/v1/messages` as a ratio of chat (one at a time and 100 concurrent; target
1.2x), and the cost of offering 20 tools without a call (target +5 ms).
Run: `python bench/ttft.py` (`--help` for the knobs).
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import faces_ttft  # noqa: E402
import gevent  # noqa: E402
from _common import gateway_pids  # noqa: E402
from _common import median_ms  # noqa: E402
from _common import pct_ms  # noqa: E402
from _common import proc_cpu_s  # noqa: E402
from _common import raise_nofile  # noqa: E402
from _common import ratio  # noqa: E402
from _common import sse_chat  # noqa: E402
from _common import stamps_in  # noqa: E402
from _common import start_gateway  # noqa: E402
from _common import stop_gateway  # noqa: E402

from lingma_flask.lingma.pool import LingmaPool  # noqa: E402
from lingma_flask.lingma.settings import CoreSettings  # noqa: E402
from tests.integration.gateway import API_KEY  # noqa: E402

PROMPT = "ttft {tag} {i} [[sim:stamp=text]] [[sim:ttft={ttft}]] [[sim:chunks={chunks}]] [[sim:delay={delay}]]"
TARGETS_MS = {1: 3.0, 300: 40.0}


def _run(one, streams: int, serial: int, timeout: float) -> None:
    """Run `one(i)` once per stream: `serial` times one after another for 1 stream, else all at once."""
    if streams == 1:
        for i in range(serial):
            with gevent.Timeout(timeout):
                one(i)
        return
    jobs = [gevent.spawn(one, i) for i in range(streams)]
    gevent.joinall(jobs, timeout=timeout)
    gevent.killall([j for j in jobs if not j.dead], timeout=5)


def gateway_round(port: int, streams: int, args, errors: list) -> list[int]:
    """Added TTFT (ns) of each stream through the gateway."""
    samples: list[int] = []

    def one(i):
        first: list[int] = []

        def on_content(text, now):
            if not first:
                stamps = stamps_in(text)
                if stamps:
                    first.append(now - stamps[0])

        prompt = PROMPT.format(tag="gw", i=i, ttft=args.ttft, chunks=args.chunks, delay=args.delay)
        try:
            status = sse_chat(port, prompt, API_KEY, on_content, timeout=args.timeout)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(repr(exc))
            return
        if status != 200 or not first:
            errors.append(f"status {status}, first chunk seen: {bool(first)}")
        else:
            samples.append(first[0])

    _run(one, streams, args.serial, args.timeout)
    return samples


def core_round(pool: LingmaPool, streams: int, args, errors: list) -> list[int]:
    """Added TTFT (ns) of each stream through a direct client of the core."""
    samples: list[int] = []

    def one(i):
        prompt = PROMPT.format(tag="core", i=i, ttft=args.ttft, chunks=args.chunks, delay=args.delay)
        first = None
        try:
            for chunk in pool.ask(prompt, None):  # read to the end, like the HTTP client
                now = time.monotonic_ns()
                if first is None:
                    stamps = stamps_in(chunk)
                    if stamps:
                        first = now - stamps[0]
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(repr(exc))
            return
        if first is None:
            errors.append("no stamped first chunk")
        else:
            samples.append(first)

    _run(one, streams, args.serial, args.timeout)
    return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per level (default 5)")
    parser.add_argument("--streams", default="1,100,300", help="concurrency levels (default 1,100,300)")
    parser.add_argument("--serial", type=int, default=20, help="streams per round at level 1, one at a time")
    parser.add_argument("--chunks", type=int, default=20, help="chunks per answer (default 20)")
    parser.add_argument("--delay", type=float, default=0.02, help="seconds between chunks (default 0.02)")
    parser.add_argument("--ttft", type=float, default=0.05, help="simulator first-token delay (default 0.05)")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--no-faces", action="store_true",
                        help="skip the Responses/Anthropic and tools comparisons (bench/faces_ttft.py)")
    args = parser.parse_args()
    levels = [int(s) for s in args.streams.split(",")]
    nofile = raise_nofile()
    gateway = pool = None
    try:
        gateway = start_gateway(LINGMA_MAX_CONCURRENCY=str(max(levels) + 100), LINGMA_QUEUE_TIMEOUT="60",
                                LINGMA_WORKER_CONNECTIONS=str(max(levels) + 500))
        http_port = int(gateway.url.rsplit(":", 1)[1])
        worker, sim, sim_port = gateway_pids(gateway)
        pool = LingmaPool(CoreSettings(socket_port=sim_port, max_concurrency=max(levels) + 100, queue_timeout=60,
                                       work_dir=tempfile.mkdtemp(prefix="lingma-bench-")))
        pool.start()
        if not pool.wait_ready(30):
            raise RuntimeError(f"core pool not ready: {pool.health()}")
        print(f"gateway {gateway.url} (master {gateway.proc.pid}, worker {worker}), simulator pid {sim} "
              f"port {sim_port}; nofile {nofile}; {args.rounds} alternating rounds per level; answers of "
              f"{args.chunks} chunks {args.delay * 1000:.0f} ms apart after a {args.ttft * 1000:.0f} ms first-token "
              f"delay; level 1 = {args.serial} streams one at a time per round")
        warm_errors: list = []
        gateway_round(http_port, 1, argparse.Namespace(**{**vars(args), "serial": 3}), warm_errors)
        core_round(pool, 1, argparse.Namespace(**{**vars(args), "serial": 3}), warm_errors)
        if warm_errors:
            raise RuntimeError(f"warm-up failed: {warm_errors[:3]}")
        results = {}
        for streams in levels:
            gw, core, gw_err, core_err = [], [], [], []
            cpu = {"client": 0.0, "worker": 0.0, "sim": 0.0}
            for _ in range(args.rounds):
                before = (resource.getrusage(resource.RUSAGE_SELF), proc_cpu_s(worker), proc_cpu_s(sim))
                gw += gateway_round(http_port, streams, args, gw_err)
                after = resource.getrusage(resource.RUSAGE_SELF)
                cpu["client"] += after.ru_utime + after.ru_stime - before[0].ru_utime - before[0].ru_stime
                cpu["worker"] += proc_cpu_s(worker) - before[1]
                cpu["sim"] += proc_cpu_s(sim) - before[2]
                core += core_round(pool, streams, args, core_err)
            g, c = median_ms(gw), median_ms(core)
            results[streams] = g
            print(f"{streams:4d} streams: gateway added TTFT median {g:.2f} ms p90 {pct_ms(gw, .9):.2f} p99 "
                  f"{pct_ms(gw, .99):.2f} ({len(gw)} streams, {len(gw_err)} failed) | core median {c:.2f} ms "
                  f"p90 {pct_ms(core, .9):.2f} p99 {pct_ms(core, .99):.2f} ({len(core)} streams, "
                  f"{len(core_err)} failed) | ratio gateway/core {ratio(g, c)}, gateway − core {g - c:+.2f} ms"
                  + (f" | target < {TARGETS_MS[streams]:g} ms: {'met' if g < TARGETS_MS[streams] else 'MISSED'}"
                     if streams in TARGETS_MS else ""))
            print(f"      CPU during the gateway rounds: HTTP client (this process) {cpu['client']:.2f} s, "
                  f"gunicorn worker {cpu['worker']:.2f} s, simulator {cpu['sim']:.2f} s")
            for err in (gw_err + core_err)[:3]:
                print(f"      error: {err}")
        if not args.no_faces:  # the same gateway, through the other API faces and with tools
            faces_ttft.faces_benchmark(http_port, args)
            faces_ttft.tools_benchmark(http_port, args)
    finally:
        if pool is not None:
            pool.stop()
        if gateway is not None:
            stop_gateway(gateway)


if __name__ == "__main__":
    main()
