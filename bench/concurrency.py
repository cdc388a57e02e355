"""1,000 concurrent streams on ONE gunicorn gevent worker versus a direct client of the core, same run.

Every stream must receive its own full answer (the prompt carries its index; the text is
checked after removing the stamps). Added latency = client receipt − simulator send stamp
(`[[sim:stamp=text]]`, CLOCK_MONOTONIC), for every chunk. Gateway: gunicorn with one gevent
worker (`tests/integration/gateway.py`), a raw-socket HTTP/1.1 client per stream in greenlets
of this process. Baseline: the same streams through `LingmaPool` in attach mode in this
process, on the gateway's own simulator. Rounds alternate gateway / core. Also reports the
peak RSS (VmHWM) of the gunicorn worker and of the simulator, and the CPU each side used.
Run: `python bench/concurrency.py` (`--help` for the knobs).
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
from _common import gateway_pids  # noqa: E402
from _common import median_ms  # noqa: E402
from _common import pct_ms  # noqa: E402
from _common import proc_cpu_s  # noqa: E402
from _common import proc_status_kb  # noqa: E402
from _common import raise_nofile  # noqa: E402
from _common import ratio  # noqa: E402
from _common import sse_chat  # noqa: E402
from _common import stamps_in  # noqa: E402
from _common import start_gateway  # noqa: E402
from _common import stop_gateway  # noqa: E402
from _common import strip_stamps  # noqa: E402

from lingma_flask.lingma.pool import LingmaPool  # noqa: E402
from lingma_flask.lingma.settings import CoreSettings  # noqa: E402
from tests.integration.gateway import API_KEY  # noqa: E402

QUESTION = "conc {tag} {round} {i} check"
MARKERS = " [[sim:stamp=text]] [[sim:ttft={ttft}]] [[sim:chunks={chunks}]] [[sim:delay={delay}]]"


class Round:
    """The outcome of one round: per-chunk latencies, completed streams, failures, wall time."""

    def __init__(self):
        self.latencies: list[int] = []
        self.completed = 0
        self.failures: list[str] = []
        self.wall = 0.0

    def record(self, i: int, parts: list[str], expected: str) -> None:
        """Count stream `i` as completed if its text (stamps removed) is its own answer."""
        text = strip_stamps("".join(parts))
        if text != expected:
            self.failures.append(f"stream {i}: wrong answer {text[:80]!r}")
        else:
            self.completed += 1


def _prompt(tag, rnd, i, args) -> tuple[str, str]:
    question = QUESTION.format(tag=tag, round=rnd, i=i)
    prompt = question + MARKERS.format(ttft=args.ttft, chunks=args.chunks, delay=args.delay)
    return prompt, "You said: " + question


def _run_all(one, args) -> float:
    start = time.monotonic()
    jobs = [gevent.spawn(one, i) for i in range(args.streams)]
    gevent.joinall(jobs, timeout=args.timeout)
    late = [j for j in jobs if not j.dead]
    gevent.killall(late, timeout=5)
    return time.monotonic() - start


def gateway_round(port: int, rnd: int, args) -> Round:
    out = Round()

    def one(i):
        prompt, expected = _prompt("gw", rnd, i, args)
        parts: list[str] = []
        lat: list[int] = []

        def on_content(text, now):
            parts.append(text)
            lat.extend(now - s for s in stamps_in(text))

        try:
            status = sse_chat(port, prompt, API_KEY, on_content, timeout=args.timeout)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            out.failures.append(f"stream {i}: {exc!r}")
            return
        finally:
            out.latencies.extend(lat)
        if status != 200:
            out.failures.append(f"stream {i}: HTTP {status}")
        else:
            out.record(i, parts, expected)

    out.wall = _run_all(one, args)
    return out


def core_round(pool: LingmaPool, rnd: int, args) -> Round:
    out = Round()

    def one(i):
        prompt, expected = _prompt("core", rnd, i, args)
        parts: list[str] = []
        try:
            for chunk in pool.ask(prompt, None):
                now = time.monotonic_ns()
                out.latencies.extend(now - s for s in stamps_in(chunk))
                parts.append(chunk)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            out.failures.append(f"stream {i}: {exc!r}")
            return
        out.record(i, parts, expected)

    out.wall = _run_all(one, args)
    return out


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000, help="concurrent streams (default 1000)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    parser.add_argument("--chunks", type=int, default=20, help="chunks per answer (default 20)")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds between chunks (default 0.05)")
    parser.add_argument("--ttft", type=float, default=0.05, help="simulator first-token delay (default 0.05)")
    parser.add_argument("--timeout", type=float, default=90.0, help="limit for one round, seconds")
    args = parser.parse_args()
    nofile = raise_nofile()
    gateway = pool = None
    try:
        gateway = start_gateway(LINGMA_MAX_CONCURRENCY=str(args.streams + 100), LINGMA_QUEUE_TIMEOUT="120",
                                LINGMA_WORKER_CONNECTIONS=str(args.streams + 100), LINGMA_WORKERS="1")
        http_port = int(gateway.url.rsplit(":", 1)[1])
        worker, sim, sim_port = gateway_pids(gateway)
        pool = LingmaPool(CoreSettings(socket_port=sim_port, max_concurrency=args.streams + 100, queue_timeout=120,
                                       work_dir=tempfile.mkdtemp(prefix="lingma-bench-")))
        pool.start()
        if not pool.wait_ready(30):
            raise RuntimeError(f"core pool not ready: {pool.health()}")
        idle_worker = proc_status_kb(worker, "VmRSS")
        idle_sim = proc_status_kb(sim, "VmRSS")
        print(f"gateway {gateway.url} (master {gateway.proc.pid}, ONE worker {worker}), simulator pid {sim} port "
              f"{sim_port}; nofile {nofile}; {args.streams} concurrent streams x {args.rounds} alternating rounds; "
              f"answers of {args.chunks} chunks {args.delay * 1000:.0f} ms apart after {args.ttft * 1000:.0f} ms")
        print(f"idle RSS: worker {idle_worker / 1024:.1f} MiB, simulator {idle_sim / 1024:.1f} MiB")
        gw_rounds, core_rounds = [], []
        cpu = {"client": 0.0, "worker": 0.0, "sim_gw": 0.0, "core": 0.0, "sim_core": 0.0}
        for rnd in range(args.rounds):
            c0, w0, s0 = _cpu_self(), proc_cpu_s(worker), proc_cpu_s(sim)
            r = gateway_round(http_port, rnd, args)
            c1, w1, s1 = _cpu_self(), proc_cpu_s(worker), proc_cpu_s(sim)
            cpu["client"] += c1 - c0
            cpu["worker"] += w1 - w0
            cpu["sim_gw"] += s1 - s0
            gw_rounds.append(r)
            print(f"  round {rnd} gateway: {r.completed}/{args.streams} completed in {r.wall:.2f} s, "
                  f"p50 {median_ms(r.latencies):.1f} ms p99 {pct_ms(r.latencies, .99):.1f} ms")
            r = core_round(pool, rnd, args)
            cpu["core"] += _cpu_self() - c1
            cpu["sim_core"] += proc_cpu_s(sim) - s1
            core_rounds.append(r)
            print(f"  round {rnd} core:    {r.completed}/{args.streams} completed in {r.wall:.2f} s, "
                  f"p50 {median_ms(r.latencies):.1f} ms p99 {pct_ms(r.latencies, .99):.1f} ms")
        worker_hwm = proc_status_kb(worker, "VmHWM")
        sim_hwm = proc_status_kb(sim, "VmHWM")
        gw_lat = [x for r in gw_rounds for x in r.latencies]
        core_lat = [x for r in core_rounds for x in r.latencies]
        gw_done = sum(r.completed for r in gw_rounds)
        core_done = sum(r.completed for r in core_rounds)
        total = args.streams * args.rounds
        g50, g99 = median_ms(gw_lat), pct_ms(gw_lat, .99)
        c50, c99 = median_ms(core_lat), pct_ms(core_lat, .99)
        print(f"gateway: {gw_done}/{total} streams completed with their own full answer; added latency per chunk "
              f"p50 {g50:.1f} ms p99 {g99:.1f} ms ({len(gw_lat)} chunks)")
        print(f"core:    {core_done}/{total} streams completed with their own full answer; added latency per chunk "
              f"p50 {c50:.1f} ms p99 {c99:.1f} ms ({len(core_lat)} chunks)")
        print(f"ratio gateway/core: p50 {ratio(g50, c50)}, p99 {ratio(g99, c99)}; gateway − core: "
              f"p50 {g50 - c50:+.1f} ms, p99 {g99 - c99:+.1f} ms")
        print(f"peak RSS (VmHWM): gunicorn worker {worker_hwm / 1024:.1f} MiB (idle {idle_worker / 1024:.1f} MiB, "
              f"+{(worker_hwm - idle_worker) / args.streams:.0f} KiB per stream); simulator {sim_hwm / 1024:.1f} MiB "
              f"(idle {idle_sim / 1024:.1f} MiB, shared by both clients)")
        print(f"CPU: gateway rounds — HTTP client (this process) {cpu['client']:.1f} s, gunicorn worker "
              f"{cpu['worker']:.1f} s, simulator {cpu['sim_gw']:.1f} s; core rounds — core client (this process) "
              f"{cpu['core']:.1f} s, simulator {cpu['sim_core']:.1f} s")
        for failure in [f for r in gw_rounds + core_rounds for f in r.failures][:5]:
            print(f"  failure: {failure}")
    finally:
        if pool is not None:
            pool.stop()
        if gateway is not None:
            stop_gateway(gateway)


if __name__ == "__main__":
    main()
