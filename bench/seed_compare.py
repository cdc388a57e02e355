"""This gateway against the seed's asyncio design, the direct core client and the bare gevent floor (issue 17).

Four peers on the same fake Lingma (the gateway's own simulator: the core client attaches to it
as in `bench/ttft.py`, the seed through a stand-in `.info`, see `bench/_seed.py`), in one run,
rounds alternating between them (the order rotates each round):

* **this gateway** — gunicorn + one gevent worker (`gunicorn.conf.py`, `wsgi:app`), default
  log level (one JSON line per request);
* **the seed design** — `../shared/bench/seed_gateway.py` (FastAPI + uvicorn, one asyncio
  process), run from a pinned venv of its own (`bench/_seed.py`);
* **the direct core client** — `LingmaPool` in attach mode in this process, under gevent;
* **the bare floor** — `bench/floor_app.py` on the same gunicorn settings: a WSGI app that
  sleeps until the first token is due and writes one SSE chunk.

Each stream asks for a 200 ms first token and four chunks (`[[sim:stamp=text]]`); "added
TTFT" is the client's receipt of the first chunk minus the simulator's send stamp (the floor
stamps the moment its chunk was due). Level 1: `--serial` streams one after another per round;
level `--burst`: that many started at once. CPU per stream: user+system from /proc/<pid>/stat
of the gunicorn worker / the seed process over the burst rounds (the core client's is this
process's, HTTP-free); the simulator's CPU per stream is shown too. Peak memory: the highest
PSS (/proc/<pid>/smaps_rollup) of master + worker (seed: its one process) sampled every 100 ms
during that peer's rounds. Prints the table of issue 17 with ratios to the seed and the floor.
Run: `python bench/seed_compare.py` (`--rounds 2` for a quick run; `--help` for the knobs). After the
table, the CPU ratio gateway / seed round by round (median, middle half, all).
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from _common import children_of  # noqa: E402
from _common import gateway_pids  # noqa: E402
from _common import median_ms  # noqa: E402
from _common import pct_ms  # noqa: E402
from _common import print_spread  # noqa: E402
from _common import proc_cpu_s  # noqa: E402
from _common import pss_kb  # noqa: E402
from _common import raise_nofile  # noqa: E402
from _common import sse_chat  # noqa: E402
from _common import stamps_in  # noqa: E402
from _common import start_gateway  # noqa: E402
from _common import stop_gateway  # noqa: E402
from _seed import Seed  # noqa: E402

from lingma_flask.lingma.pool import LingmaPool  # noqa: E402
from lingma_flask.lingma.settings import CoreSettings  # noqa: E402
from tests.integration.gateway import API_KEY  # noqa: E402

PROMPT = "cmp {tag} {i} [[sim:stamp=text]] [[sim:ttft={ttft}]] [[sim:chunks={chunks}]] [[sim:delay={delay}]]"
PEERS = ("gateway", "seed", "core", "floor")
TITLES = {"gateway": "this gateway", "seed": "seed design", "core": "direct core", "floor": "bare floor"}


class Peer:
    """One thing measured: how to run a stream, whose CPU and memory count."""

    BURST = 2  # any level above 1 for `totals`: the burst rounds

    def __init__(self, name: str, cpu_pids=(), mem_pids=(), port: int | None = None, pool=None):
        self.name, self.cpu_pids, self.mem_pids, self.port, self.pool = name, cpu_pids, mem_pids, port, pool
        self.ttft: dict[int, list[int]] = {}
        self.errors: list[str] = []
        self.burst_streams = 0
        self.rounds: list[tuple[float, float]] = []  # each burst round's (CPU, simulator CPU), s
        self.serial_rounds: list[tuple[float, float]] = []  # the same, of the rounds one at a time
        self.serial_streams = 0
        self.peak_pss_kb = 0
        self.idle_pss_kb = 0

    @property
    def cpu_s(self) -> float:
        """CPU over all burst rounds, s."""
        return self.totals(self.BURST)[0]

    @property
    def sim_cpu_s(self) -> float:
        """The simulator's CPU over this peer's burst rounds, s."""
        return self.totals(self.BURST)[1]

    def totals(self, level: int) -> tuple[float, float, int]:
        """CPU and the simulator's CPU (s) over the rounds of `level` (1: one at a time), and
        the streams they ran."""
        rounds, streams = (self.rounds, self.burst_streams) if level > 1 else (self.serial_rounds, self.serial_streams)
        return sum(cpu for cpu, _ in rounds), sum(sim for _, sim in rounds), streams

    def pss(self) -> int:
        return sum(pss_kb(pid) for pid in self.mem_pids)

    def cpu(self) -> float:
        if self.cpu_pids:
            return sum(proc_cpu_s(pid) for pid in self.cpu_pids)
        usage = resource.getrusage(resource.RUSAGE_SELF)  # the core client runs in this process
        return usage.ru_utime + usage.ru_stime

    def stream(self, i: int, args) -> int | None:
        """Run one stream to its end; return its added TTFT (ns), or None after noting an error."""
        prompt = PROMPT.format(tag=self.name, i=i, ttft=args.ttft, chunks=args.chunks, delay=args.delay)
        first: list[int] = []
        try:
            if self.pool is not None:
                for chunk in self.pool.ask(prompt, None):
                    now = time.monotonic_ns()
                    if not first and stamps_in(chunk):
                        first.append(now - stamps_in(chunk)[0])
                status = 200
            else:
                def on_content(text, now):
                    if not first and stamps_in(text):
                        first.append(now - stamps_in(text)[0])

                status = sse_chat(self.port, prompt, API_KEY, on_content, timeout=args.timeout)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            self.errors.append(repr(exc))
            return None
        if status != 200 or not first:
            self.errors.append(f"status {status}, first chunk seen: {bool(first)}")
            return None
        return first[0]


def run_level(peer: Peer, streams: int, args) -> list[int]:
    """One round of `peer` at one level: `args.serial` streams one at a time, or `streams` at once."""
    if streams == 1:
        results = []
        for i in range(args.serial):
            with gevent.Timeout(args.timeout):
                results.append(peer.stream(i, args))
    else:
        jobs = [gevent.spawn(peer.stream, i, args) for i in range(streams)]
        gevent.joinall(jobs, timeout=args.timeout)
        gevent.killall([j for j in jobs if not j.dead], timeout=5)
        results = [j.value for j in jobs]
    return [r for r in results if r is not None]


def measured_round(peer: Peer, streams: int, sim: int | None, args) -> None:
    """Run one round and add its TTFTs, CPU and peak PSS to `peer`."""
    peak = [peer.pss()] if peer.mem_pids else [0]

    def sample():
        while True:
            gevent.sleep(0.1)
            peak[0] = max(peak[0], peer.pss())

    sampler = gevent.spawn(sample) if peer.mem_pids else None
    cpu0, sim0 = peer.cpu(), (proc_cpu_s(sim) if sim else 0.0)
    got = run_level(peer, streams, args)
    cpu1, sim1 = peer.cpu(), (proc_cpu_s(sim) if sim else 0.0)
    if sampler is not None:
        sampler.kill()
        peak[0] = max(peak[0], peer.pss())
    peer.ttft.setdefault(streams, []).extend(got)
    peer.peak_pss_kb = max(peer.peak_pss_kb, peak[0])
    spent = (cpu1 - cpu0, sim1 - sim0 if peer.name != "floor" else 0.0)
    if streams > 1:
        peer.burst_streams += streams
        peer.rounds.append(spent)
    else:
        peer.serial_streams += args.serial
        peer.serial_rounds.append(spent)


def print_table(peers: dict[str, Peer], args) -> None:
    """The issue's table: one row per measure, one column per peer, ratios to the seed and the floor."""
    burst = args.burst

    def row(label, values, unit, fmt="{:.2f}"):
        cells = [(fmt.format(v) + f" {unit}" if v is not None else "n/a") for v in values]
        g, s, f = values[0], values[1], values[3]
        r_seed = f"{g / s:.2f}" if g is not None and s else "n/a"
        r_floor = f"{g / f:.2f}" if g is not None and f else "n/a"
        print(f"| {label} | " + " | ".join(cells) + f" | {r_seed} | {r_floor} |")

    p = [peers[name] for name in PEERS]
    print()
    print("| | " + " | ".join(TITLES[name] for name in PEERS) + " | gateway / seed | gateway / floor |")
    print("| --- " * 7 + "|")
    row("added TTFT, one at a time (median)", [median_ms(x.ttft.get(1, [])) for x in p], "ms")
    row(f"added TTFT p50, {burst} at once", [pct_ms(x.ttft.get(burst, []), .5) for x in p], "ms", "{:.1f}")
    row(f"added TTFT **p99**, {burst} at once", [pct_ms(x.ttft.get(burst, []), .99) for x in p], "ms", "{:.1f}")
    row("CPU per stream (worker / process)",
        [x.cpu_s / x.burst_streams * 1000 if x.burst_streams else None for x in p], "ms")
    row("CPU per stream, one at a time (idle work included)",
        [x.totals(1)[0] / x.serial_streams * 1000 if x.serial_streams else None for x in p], "ms")
    row("simulator CPU per stream",
        [x.sim_cpu_s / x.burst_streams * 1000 if x.burst_streams and x.name != "floor" else None for x in p], "ms")
    row("peak memory (PSS, master + worker)", [x.peak_pss_kb / 1024 if x.mem_pids else None for x in p], "MB", "{:.1f}")
    row("idle memory after warm-up (PSS)", [x.idle_pss_kb / 1024 if x.mem_pids else None for x in p], "MB", "{:.1f}")
    print()
    print("the core client's CPU is this process's (it is also the HTTP client of the others, idle then); "
          "the core client has no memory of its own to show")
    for x in p:
        counts = ", ".join(f"{level}: {len(v)}" for level, v in sorted(x.ttft.items()))
        print(f"{TITLES[x.name]}: streams measured {counts}; {len(x.errors)} failed"
              + (f" (first: {x.errors[0]})" if x.errors else ""))
    print_round_ratios(peers["gateway"], peers["seed"])


def print_round_ratios(gateway: Peer, seed: Peer) -> None:
    """The CPU ratio round by round: the two ran back to back in each round, so the rounds'
    median is steadier than the totals' ratio when the machine's load drifts. (Not divided by
    the simulator's CPU, as `ab_compare.py` does: the gateway asks more of Lingma than the seed,
    a `chat/deleteSessionById` per chat, so that would flatter it.)"""
    ratios = [g / s for (g, _), (s, _) in zip(gateway.rounds, seed.rounds, strict=False) if s]
    if ratios:  # none when the seed was not in the run
        print_spread("CPU per stream", ratios, "gateway / seed")


def add_stream_knobs(parser: argparse.ArgumentParser) -> None:
    """The burst's size and each stream's shape (also `ab_compare.py`'s)."""
    parser.add_argument("--burst", type=int, default=300, help="streams started at once (default 300)")
    parser.add_argument("--serial", type=int, default=10, help="streams one at a time per round (default 10)")
    parser.add_argument("--ttft", type=float, default=0.2, help="first-token delay, s (default 0.2)")
    parser.add_argument("--chunks", type=int, default=4, help="chunks per answer (default 4)")
    parser.add_argument("--delay", type=float, default=0.02, help="seconds between chunks (default 0.02)")
    parser.add_argument("--timeout", type=float, default=60.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per level (default 5)")
    add_stream_knobs(parser)
    parser.add_argument("--peers", default=",".join(PEERS), help="which peers to run (default all four)")
    parser.add_argument("--gateway-env", nargs="*", default=[], metavar="NAME=VALUE",
                        help="LINGMA_* settings of this gateway only (LINGMA_STORE=off: without a feature "
                             "the seed lacks)")
    args = parser.parse_args()
    chosen = [name for name in args.peers.split(",") if name]
    nofile = raise_nofile()
    conn_env = {"LINGMA_MAX_CONCURRENCY": str(args.burst + 100), "LINGMA_QUEUE_TIMEOUT": "60",
                "LINGMA_WORKER_CONNECTIONS": str(args.burst + 500), "LINGMA_LOG_LEVEL": "INFO"}
    gateway = floor = seed = pool = None
    try:
        gateway = start_gateway(**{**conn_env, **dict(pair.split("=", 1) for pair in args.gateway_env)})
        worker, sim, sim_port = gateway_pids(gateway)
        peers = {"gateway": Peer("gateway", [worker], [gateway.proc.pid, worker],
                                 port=int(gateway.url.rsplit(":", 1)[1]))}
        if "seed" in chosen:
            seed = Seed(sim_port, sim)
            peers["seed"] = Peer("seed", [seed.pid], [seed.pid], port=seed.port)
        if "core" in chosen:
            pool = LingmaPool(CoreSettings(socket_port=sim_port, max_concurrency=args.burst + 100, queue_timeout=60,
                                           work_dir=tempfile.mkdtemp(prefix="lingma-bench-")))
            pool.start()
            if not pool.wait_ready(30):
                raise RuntimeError(f"core pool not ready: {pool.health()}")
            peers["core"] = Peer("core", pool=pool)
        if "floor" in chosen:
            floor = start_gateway(config=str(Path("bench") / "floor.gunicorn.conf.py"), app="bench.floor_app:app",
                                  BENCH_FLOOR_TTFT=str(args.ttft), **conn_env)
            floor_worker = children_of(floor.proc.pid)[0]
            peers["floor"] = Peer("floor", [floor_worker], [floor.proc.pid, floor_worker],
                                  port=int(floor.url.rsplit(":", 1)[1]))
        for name in PEERS:
            peers.setdefault(name, Peer(name))
        active = [peers[name] for name in PEERS if name in chosen or name == "gateway"]
        print(f"gateway master {gateway.proc.pid} worker {worker}; simulator pid {sim} port {sim_port}"
              + (f"; seed pid {seed.pid}" if seed else "") + (f"; floor master {floor.proc.pid}" if floor else "")
              + f"; nofile {nofile}; {args.rounds} alternating rounds; level 1 = {args.serial} streams one at a "
              f"time, then {args.burst} at once; first token {args.ttft * 1000:.0f} ms, {args.chunks} chunks "
              f"{args.delay * 1000:.0f} ms apart", flush=True)
        for peer in active:  # warm-up: imports, connections, first-request work
            run_level(peer, 1, argparse.Namespace(**{**vars(args), "serial": 3}))
            run_level(peer, 20, args)
            if peer.errors:
                raise RuntimeError(f"warm-up of {peer.name} failed: {peer.errors[:3]}")
            gevent.sleep(0.5)
            peer.idle_pss_kb = peer.pss() if peer.mem_pids else 0
        for streams in (1, args.burst):
            for r in range(args.rounds):
                order = active[r % len(active):] + active[:r % len(active)]
                for peer in order:
                    measured_round(peer, streams, sim, args)
                    gevent.sleep(0.3)  # let the last streams' follow-ups (stop, delete) settle
                print(f"level {streams}, round {r + 1}/{args.rounds} done", flush=True)
        print_table(peers, args)
    finally:
        if pool is not None:
            pool.stop()
        if seed is not None:
            seed.stop()
        if floor is not None:
            stop_gateway(floor)
        if gateway is not None:
            stop_gateway(gateway)


if __name__ == "__main__":
    main()
