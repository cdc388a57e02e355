"""This tree's gateway against the same gateway at an earlier commit or with other settings (issue 17).

A cut of a few percent of a stream's CPU is below the run-to-run noise of this shared machine,
so it is measured against its own baseline in the same run: `--base REV` is checked out into
a temporary git worktree and served by the same venv, gunicorn settings and simulator knobs as
this tree (without `--base`, the base is this tree too); `--this-env` / `--base-env` set
`LINGMA_*` settings on one side only (what a feature costs). The two take turns (the order
rotates each round), as in `seed_compare.py`. Prints CPU per stream of each worker, the
burst's added TTFT p50 / p99 and peak PSS, with the ratio this / base, then the spread of the
CPU ratio round by round (median, middle half, all). On this shared machine one round's ratio
spreads 0.75-1.5 and a dozen rounds' total is good to +-3-5 %; a cut of a few percent needs
`--rounds 200` (an A/A run, no `--base`, then reads 1.01, the rounds' median 1.00). `--burst 1`
measures streams one at a time instead (`--serial` of them a round; what a lone user costs,
idle work included). When the
machine's other tenants slow one side's rounds more than the other's, the two simulators
(which do the same work for either side unless the change alters what the gateway sends
Lingma) read apart too: the last line divides each worker's CPU by its own simulator's, round
by round, which cancels that.
Run: `python bench/ab_compare.py --base HEAD~1`, or
`python bench/ab_compare.py --base-env LINGMA_STORE=off` (`--help` for the knobs).
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from _common import ROOT  # noqa: E402
from _common import gateway_pids  # noqa: E402
from _common import pct_ms  # noqa: E402
from _common import print_spread  # noqa: E402
from _common import raise_nofile  # noqa: E402
from _common import start_gateway  # noqa: E402
from _common import stop_gateway  # noqa: E402
from seed_compare import Peer  # noqa: E402
from seed_compare import add_stream_knobs  # noqa: E402
from seed_compare import measured_round  # noqa: E402
from seed_compare import run_level  # noqa: E402


def worktree(rev: str, folder: Path) -> Path:
    """Check `rev` out (detached) into `folder`; return its root."""
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(folder), rev], cwd=ROOT, check=True)
    return folder


def round_cpu(peer: Peer, streams: int, args) -> tuple[float, float]:
    """Run one measured round on `peer`; return its worker's and its simulator's CPU in that
    round (s)."""
    measured_round(peer, streams, peer.sim, args)
    return (peer.rounds if streams > 1 else peer.serial_rounds)[-1]


def print_rows(this: Peer, base: Peer, burst: int, rev: str) -> None:
    """One row per measure: this tree, the base, and their ratio."""
    def row(label, a, b, unit, fmt="{:.2f}"):
        print(f"| {label} | {fmt.format(a)} {unit} | {fmt.format(b)} {unit} | {a / b:.3f} |")

    (cpu, sim, streams), (base_cpu, base_sim, base_streams) = this.totals(burst), base.totals(burst)
    level = f"{burst} at once" if burst > 1 else "one at a time"
    print()
    print(f"| | this | base ({rev}) | this / base |")
    print("| --- | --- | --- | --- |")
    row("CPU per stream (worker)", cpu / streams * 1000, base_cpu / base_streams * 1000, "ms", "{:.3f}")
    row("simulator CPU per stream", sim / streams * 1000, base_sim / base_streams * 1000, "ms", "{:.3f}")
    for q in (.5, .99):
        row(f"added TTFT p{q * 100:.0f}, {level}", pct_ms(this.ttft[burst], q),
            pct_ms(base.ttft[burst], q), "ms", "{:.1f}")
    row("peak PSS (master + worker)", this.peak_pss_kb / 1024, base.peak_pss_kb / 1024, "MB", "{:.1f}")
    for peer, title in ((this, "this"), (base, "base")):
        print(f"{title}: {peer.totals(burst)[2]} streams ({level}) measured; {len(peer.errors)} failed"
              + (f" (first: {peer.errors[0]})" if peer.errors else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="the commit to compare with (e.g. HEAD~1; default: this tree)")
    parser.add_argument("--this-env", nargs="*", default=[], metavar="NAME=VALUE", help="settings of this side only")
    parser.add_argument("--base-env", nargs="*", default=[], metavar="NAME=VALUE", help="settings of the base only")
    parser.add_argument("--rounds", type=int, default=8, help="alternating burst rounds (default 8)")
    add_stream_knobs(parser)
    args = parser.parse_args()
    raise_nofile()
    env = {"LINGMA_MAX_CONCURRENCY": str(args.burst + 100), "LINGMA_QUEUE_TIMEOUT": "60",
           "LINGMA_WORKER_CONNECTIONS": str(args.burst + 500), "LINGMA_LOG_LEVEL": "INFO"}
    gateways = []
    with tempfile.TemporaryDirectory(prefix="lingma-ab-") as tmp:
        folder = Path(tmp) / "base"
        try:
            peers = []
            base_root = worktree(args.base, folder) if args.base else ROOT
            for name, root, extra in (("this", ROOT, args.this_env), ("base", base_root, args.base_env)):
                gateway = start_gateway(root=root, **{**env, **dict(pair.split("=", 1) for pair in extra)})
                gateways.append(gateway)
                worker, sim, _ = gateway_pids(gateway)
                peer = Peer(name, [worker], [gateway.proc.pid, worker], port=int(gateway.url.rsplit(":", 1)[1]))
                peer.sim = sim
                peers.append(peer)
            for peer in peers:  # warm-up: imports, connections, first-request work
                run_level(peer, 20, args)
                if peer.errors:
                    raise RuntimeError(f"warm-up of {peer.name} failed: {peer.errors[:3]}")
            ratios, relative = [], []
            for r in range(args.rounds):
                cpu = {}
                for peer in peers[r % 2:] + peers[:r % 2]:
                    cpu[peer.name] = round_cpu(peer, args.burst, args)
                    gevent.sleep(0.3)
                (this_cpu, this_sim), (base_cpu, base_sim) = cpu["this"], cpu["base"]
                ratios.append(this_cpu / base_cpu)
                relative.append((this_cpu / this_sim) / (base_cpu / base_sim))
                print(f"round {r + 1}/{args.rounds} done", flush=True)
            print_rows(peers[0], peers[1], args.burst, " ".join([args.base or "this tree", *args.base_env]))
            print_spread("CPU per stream", ratios)
            print_spread("CPU per stream in its own simulator's CPU", relative)
        finally:
            for gateway in gateways:
                stop_gateway(gateway)
            if args.base:
                subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT, check=False)


if __name__ == "__main__":
    main()
