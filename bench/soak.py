"""Soak: thousands of mixed requests against ONE gevent worker; nothing may leak or fail unexpectedly.

Runs the real gateway (gunicorn, one gevent worker, the simulator; `_common.start_gateway`)
and sends `--requests` requests, `--concurrency` at a time: every API face (chat
completions, Responses, Anthropic Messages, legacy completions), streamed and not, with short
answers; clients that hang up early; slow readers; bad requests; and a Lingma crash every
1,000 requests (`[[sim:crash=2]]`, sent while nothing else is in flight: that request must
fail, the ones right after it must succeed while Lingma respawns). See `soak_client.py` for
the mix and what each kind expects.

The first tenth of the requests (at least 100) warms the worker up; readings are taken at
rest (nothing in flight, descriptors settled) after the warm-up, halfway and at the end.
Criteria, each printed with PASS/FAIL (exit status 1 on any FAIL):

* unexpected errors: 0 (client side, plus tracebacks and 500s in the worker's log);
* worker RSS growth from the warm-up reading to the end: under 10 %;
* open file descriptors of the worker: equal at start and end;
* threads, OS threads and live greenlets of the worker: equal at start and end;
* Lingma processes at the end: the pool size, no zombies; one respawn per crash;
* the Lingma side at the end (the simulator's own view): one connection, no ask running, no
  session kept, no push unacknowledged.

    python bench/soak.py [--requests 10000] [--concurrency 8] [--json out.json] [--log gateway.log]
                         [--write-doc]   # the figures into docs/reliability.md
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import threading
import time
from pathlib import Path

import soak_doc
from _common import gateway_pids
from _common import raise_nofile
from _common import start_gateway
from _common import stop_gateway
from soak_client import CRASH_AT
from soak_client import CRASH_EVERY
from soak_client import plan
from soak_client import run
from soak_probe import Reading
from soak_probe import at_rest

RSS_LIMIT = 10.0   # % growth after warm-up
# glibc raises its mmap threshold after freeing a big block, so the multi-MB answers of slow
# readers are then served from the heap and up to ~10 MB stays resident at rest, by chance:
# noise that hides a leak. A fixed threshold turns that off (--glibc-default keeps it).
PINNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "131072"}


class Runner:
    """Sends planned requests `concurrency` at a time; a crash request runs alone."""

    def __init__(self, port: int, concurrency: int, seed: int):
        self.port, self.concurrency, self.seed = port, concurrency, seed
        self.outcomes = []
        self._cond = threading.Condition()
        self._in_flight = 0
        self._alone = False

    def run(self, indices: range) -> None:
        """Send every request of `indices` and wait for all of them."""
        todo = iter(indices)
        threads = [threading.Thread(target=self._work, args=(todo,)) for _ in range(self.concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _work(self, todo) -> None:
        while (spec := self._take(todo)) is not None:
            try:
                outcome = run(spec, self.port)
            finally:
                self._done(spec)
            self.outcomes.append(outcome)

    def _take(self, todo):
        with self._cond:
            index = next(todo, None)
            if index is None:
                return None
            spec = plan(index, self.seed)
            self._cond.wait_for(lambda: not self._alone)
            if spec.kind == "crash":
                self._alone = True
                self._cond.wait_for(lambda: self._in_flight == 0)
            self._in_flight += 1
            return spec

    def _done(self, spec) -> None:
        with self._cond:
            self._in_flight -= 1
            if spec.kind == "crash":
                self._alone = False
            self._cond.notify_all()


def show(name: str, indices: range, reading: Reading, began: float) -> None:
    """Print a reading as it is taken."""
    print(f"[{time.monotonic() - began:6.1f} s] requests {indices.start}-{indices.stop - 1} done;"
          f" at rest ({name}): RSS {reading.rss_kb / 1024:.1f} MiB, {reading.fds} fds,"
          f" {reading.threads} threads, {reading.native_threads} OS threads,"
          f" {reading.greenlets} greenlets, Lingma pids {reading.lingmas}", flush=True)


LOG_ERROR = re.compile(r'Traceback|"level": ?"(ERROR|CRITICAL)"|\[(ERROR|CRITICAL)\]|"status": ?500\b|status=500\b')


def server_errors(log_text: str) -> list[str]:
    """Tracebacks, ERROR lines and 500 answers in the worker's log (JSON or text format).

    Each is a gateway bug, whatever the client saw.
    """
    return [line for line in log_text.splitlines() if LOG_ERROR.search(line)]


class Verdicts:
    """The criteria's outcomes: printed as they are judged, kept for the figures."""

    def __init__(self):
        self.passed: dict[str, bool] = {}
        self.figures: dict[str, str] = {}

    def add(self, name: str, passed: bool, figures: str) -> None:
        """Print one criterion's line and remember it."""
        self.passed[name], self.figures[name] = passed, figures
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {figures}")


def mix(outcomes) -> list[tuple]:
    """The requests that ran: (kind, variant, count, median s, max s), sorted."""
    by_kind = collections.defaultdict(list)
    for outcome in outcomes:
        by_kind[(outcome.spec.kind, outcome.spec.variant)].append(outcome.seconds)
    rows = []
    for (kind, variant), seconds in sorted(by_kind.items()):
        seconds.sort()
        rows.append((kind, variant, len(seconds), seconds[len(seconds) // 2], seconds[-1]))
    return rows


def summary(rows: list[tuple]) -> None:
    """Print the mix that ran: requests per kind and variant, and their times."""
    print(f"{'kind':<8} {'variant':<15} {'count':>6} {'median s':>9} {'max s':>7}")
    for kind, variant, count, median, longest in rows:
        print(f"{kind:<8} {variant:<15} {count:>6} {median:>9.3f} {longest:>7.3f}")


def judge(outcomes, readings: dict[str, Reading], log_errors, pool_size, crashes) -> Verdicts:
    """Print every criterion with PASS/FAIL; return the verdicts."""
    results = Verdicts()
    judge_errors(outcomes, log_errors, results)
    judge_worker(readings, results)
    judge_lingma(readings, pool_size, crashes, results)
    return results


def judge_errors(outcomes, log_errors, results: Verdicts) -> None:
    """Unexpected outcomes and gateway errors in its log: none allowed."""
    unexpected = [o for o in outcomes if not o.ok]
    for outcome in unexpected[:20]:
        spec = outcome.spec
        print(f"  unexpected: #{spec.index} {spec.face.name} {spec.kind}/{spec.variant}"
              f" stream={spec.stream}: {outcome.detail}")
    for line in log_errors[:10]:
        print(f"  worker log: {line[:200]}")
    results.add("unexpected errors", not unexpected and not log_errors,
                f"{len(unexpected)} of {len(outcomes)} requests, {len(log_errors)} in the worker's log"
                " (must be 0)")


def judge_worker(readings: dict[str, Reading], results: Verdicts) -> None:
    """The worker's memory, descriptors, threads and greenlets: back where they started."""
    start, middle, end = readings["start"], readings["middle"], readings["end"]
    growth = 100.0 * (end.rss_kb - start.rss_kb) / start.rss_kb
    results.add("worker RSS", growth < RSS_LIMIT,
                f"start {start.rss_kb / 1024:.1f} MiB, middle {middle.rss_kb / 1024:.1f} MiB, end "
                f"{end.rss_kb / 1024:.1f} MiB: {growth:+.1f} % after warm-up (limit {RSS_LIMIT:g} %)")
    results.add("open fds", start.fds == end.fds, f"start {start.fds}, middle {middle.fds}, end {end.fds}")
    if start.fds != end.fds:
        print(f"  fds gone: {sorted(set(start.fd_targets) - set(end.fd_targets))[:10]}; "
              f"new: {sorted(set(end.fd_targets) - set(start.fd_targets))[:10]}")
    counts = lambda r: (r.threads, r.native_threads, r.greenlets)  # noqa: E731
    results.add("threads and greenlets", counts(start) == counts(end),
                f"threads {start.threads} -> {end.threads}, OS threads {start.native_threads} -> "
                f"{end.native_threads}, greenlets {start.greenlets} -> {end.greenlets}")


def judge_lingma(readings: dict[str, Reading], pool_size: int, crashes: int, results: Verdicts) -> None:
    """The pool's Lingma processes, one respawn per crash, and a clean Lingma side."""
    start, end = readings["start"], readings["end"]
    respawns = end.restarts - start.restarts
    results.add("Lingma processes", len(end.lingmas) == pool_size and not end.zombies
                and respawns == crashes and end.in_flight == end.open_streams == 0,
                f"{len(end.lingmas)} at the end (pool size {pool_size}), {len(end.zombies)} zombies, "
                f"{respawns} respawns for {crashes} crashes, {end.in_flight} slots held, "
                f"{end.open_streams} streams open")
    side = end.lingma_side
    results.add("Lingma side", side == {"connections": 1, "active_asks": 0, "sessions": 0, "acks_missing": 0},
                f"{side['connections']} connection, {side['active_asks']} asks running, {side['sessions']}"
                f" sessions kept, {side['acks_missing']} pushes unacknowledged (first instance, at the end)")


def figures(args, outcomes, readings, results: Verdicts, wall, crashes) -> dict:
    """The run's figures as JSON (for the test and docs/reliability.md)."""
    return {"requests": len(outcomes), "concurrency": args.concurrency, "wall_s": round(wall, 1),
            "crashes": crashes, "unexpected": sum(not o.ok for o in outcomes),
            "kinds": dict(collections.Counter(o.spec.kind for o in outcomes)), "mix": mix(outcomes),
            "readings": {name: {k: v for k, v in vars(r).items() if k != "fd_targets"}
                         for name, r in readings.items()},
            "criteria": results.passed, "explained": results.figures}


def warm_up(requests: int) -> int:
    """How many of the requests warm the worker up: a tenth, at least 100."""
    return max(100, requests // 10)


def run_phases(gateway, worker: int, runner: Runner, requests: int) -> tuple[dict, float]:
    """Warm up, then run both halves; take a reading at rest after each; return them and the time."""
    warm = warm_up(requests)
    middle = warm + (requests - warm) // 2
    began, readings = time.monotonic(), {}
    for name, indices in (("start", range(0, warm)), ("middle", range(warm, middle)),
                          ("end", range(middle, requests))):
        runner.run(indices)
        readings[name] = at_rest(gateway, worker)
        show(name, indices, readings[name], began)
    return readings, time.monotonic() - began


def worker_errors(gateway, worker: int, keep_log: str | None) -> list[str]:
    """Errors the worker logged (optionally keeping the log), and whether it was replaced."""
    log_text = gateway.log_path.read_text()
    if keep_log:
        Path(keep_log).write_text(log_text)
    errors = server_errors(log_text)
    if gateway_pids(gateway)[0] != worker:
        errors.append("the worker was replaced during the soak")
    return errors


def record(found: dict, args) -> None:
    """Write the figures where asked: a JSON file, the soak section of docs/reliability.md."""
    if args.json:
        with open(args.json, "w") as out:
            json.dump(found, out, indent=1)
    if args.write_doc:
        soak_doc.write(found)
        print(f"wrote the soak section of {soak_doc.DOC.relative_to(soak_doc.ROOT)}")


def soak(args) -> int:
    """Run the soak against a fresh gateway; return the exit status."""
    raise_nofile()
    protocol = {} if args.protocol == "classic" else {"LINGMA_SIM_PROTOCOL": "acp", "LINGMA_PROTOCOL": "acp"}
    gateway = start_gateway(LINGMA_LOG_LEVEL="WARNING", **({} if args.glibc_default else PINNED_MALLOC),
                            **protocol)
    try:
        worker, _, _ = gateway_pids(gateway)
        pool_size = len(gateway.health()[1]["instances"])
        runner = Runner(int(gateway.url.rsplit(":", 1)[1]), args.concurrency, args.seed)
        print(f"soak: {args.requests} requests, concurrency {args.concurrency}, worker pid {worker},"
              f" pool size {pool_size}", flush=True)
        readings, wall = run_phases(gateway, worker, runner, args.requests)
        crashes = sum(1 for i in range(warm_up(args.requests), args.requests) if i % CRASH_EVERY == CRASH_AT)
        summary(mix(runner.outcomes))
        print(f"{len(runner.outcomes)} requests in {wall:.1f} s ({len(runner.outcomes) / wall:.0f}/s)")
        errors = worker_errors(gateway, worker, args.log)
        results = judge(runner.outcomes, readings, errors, pool_size, crashes)
        record(figures(args, runner.outcomes, readings, results, wall, crashes), args)
        return 0 if all(results.passed.values()) else 1
    finally:
        stop_gateway(gateway)


def main(argv=None) -> int:
    """Parse the command line and run the soak."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1, help="chooses the mix (deterministic)")
    parser.add_argument("--protocol", choices=("classic", "acp"), default="classic",
                        help="the API the simulator speaks: classic chat/ask, or the desktop's ACP-style API")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--glibc-default", action="store_true",
                        help="leave glibc's dynamic mmap threshold on (noisier RSS at rest)")
    parser.add_argument("--write-doc", action="store_true",
                        help="write the figures into docs/reliability.md (its soak section)")
    parser.add_argument("--log", help="keep the gateway's log (its request lines included) in this file")
    return soak(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
