"""What the collector costs the worker, with the loaded app frozen and without (issue 17).

`gunicorn.conf.py` freezes the app's objects (`gc.freeze()`) when the worker has loaded it, so
that the collector's full collections stop walking them. This starts two gateways on their
own simulators with `bench/gc.gunicorn.conf.py` (the project's settings, each collection
timed by generation), one of them unfreezing the app again, runs the same bursts on both in
turns (the order rotates each round), and prints per generation the collections, their total
time per stream and the longest pause, with the worker's CPU per stream from /proc. With
`--threshold N` the second gateway is frozen too but collects its youngest generation every N
allocations instead (what a larger `gc.set_threshold` would save).
Run: `python bench/gc_pauses.py` (`--help` for the knobs).
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from _common import gateway_pids  # noqa: E402
from _common import raise_nofile  # noqa: E402
from _common import start_gateway  # noqa: E402
from _common import stop_gateway  # noqa: E402
from seed_compare import Peer  # noqa: E402
from seed_compare import add_stream_knobs  # noqa: E402
from seed_compare import measured_round  # noqa: E402
from seed_compare import run_level  # noqa: E402


def configs(threshold: int | None) -> tuple[tuple[str, dict[str, str]], ...]:
    """The two gateways' names and their settings of `bench/gc.gunicorn.conf.py`."""
    other = (("unfrozen", {"BENCH_GC_UNFREEZE": "1"}) if threshold is None
             else (f"threshold {threshold}", {"BENCH_GC_THRESHOLD": str(threshold)}))
    return ("frozen", {}), other


def start(name: str, knobs: dict[str, str], folder: Path, burst: int):
    """Start one side; return (gateway, peer, the file its worker writes at exit)."""
    stats = folder / f"{name.replace(' ', '-')}.json"
    gateway = start_gateway(config="bench/gc.gunicorn.conf.py", **knobs,
                            BENCH_GC_FILE=str(stats), LINGMA_MAX_CONCURRENCY=str(burst + 100),
                            LINGMA_QUEUE_TIMEOUT="60", LINGMA_WORKER_CONNECTIONS=str(burst + 500))
    worker, sim, _ = gateway_pids(gateway)
    peer = Peer(name, [worker], [gateway.proc.pid, worker], port=int(gateway.url.rsplit(":", 1)[1]))
    peer.sim = sim
    return gateway, peer, stats


def report(peers: list[Peer], stats: dict[str, dict], streams: dict[str, int]) -> None:
    """One row per side and generation."""
    print("\n| side | generation | collections | GC time per stream | longest pause | worker CPU per stream |")
    print("| --- | --- | --- | --- | --- | --- |")
    for peer in peers:
        figures = stats[peer.name]["stats"]
        cpu = peer.cpu_s / peer.burst_streams * 1000
        for gen in ("0", "1", "2"):
            row = figures[gen]
            per_stream = row["total_s"] / streams[peer.name] * 1e6
            print(f"| {peer.name} | {gen} | {row['count']} | {per_stream:.0f} µs | {row['max_s'] * 1000:.1f} ms"
                  f" | {cpu:.3f} ms |")
        total = sum(figures[g]["total_s"] for g in ("0", "1", "2")) / streams[peer.name] * 1e6
        print(f"| {peer.name} | all | | **{total:.0f} µs** | | |")
    for peer in peers:
        print(f"{peer.name}: {stats[peer.name]['frozen']} objects frozen at exit; worker CPU"
              f" {peer.cpu_s:.2f} s over {peer.burst_streams} burst streams; {streams[peer.name]} streams"
              f" in all, {len(peer.errors)} failed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="alternating burst rounds (default 6)")
    parser.add_argument("--threshold", type=int, help="compare with a frozen gateway collecting every N allocations")
    add_stream_knobs(parser)
    args = parser.parse_args()
    raise_nofile()
    with tempfile.TemporaryDirectory(prefix="lingma-gc-") as tmp:
        sides, peers = [], []
        try:
            for name, knobs in configs(args.threshold):
                gateway, peer, stats_file = start(name, knobs, Path(tmp), args.burst)
                sides.append((gateway, stats_file))
                peers.append(peer)
            streams = {peer.name: 20 for peer in peers}  # the warm-up's, counted in the collector's figures
            for peer in peers:
                run_level(peer, 20, args)
            for r in range(args.rounds):
                for peer in peers[r % 2:] + peers[:r % 2]:
                    measured_round(peer, args.burst, peer.sim, args)
                    streams[peer.name] += args.burst
                    gevent.sleep(0.3)
                print(f"round {r + 1}/{args.rounds} done", flush=True)
        finally:
            for gateway, _ in sides:
                stop_gateway(gateway)  # the worker writes its figures as it exits
        stats = {peer.name: json.loads(file.read_text()) for peer, (_, file) in zip(peers, sides, strict=True)}
        report(peers, stats, streams)


if __name__ == "__main__":
    main()
