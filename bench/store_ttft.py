"""What the store costs a chat: added time to first token with it on (SQLite, PostgreSQL) and off.

Three gateways (gunicorn + one gevent worker each, on their own simulators) run side by side:
`LINGMA_STORE=off`, the default SQLite store, and a PostgreSQL store (a throw-away cluster
started like the tests' fixture, `tests/pg.py`). Rounds alternate between them (the order
rotates), each round streaming `--serial` chats one at a time, then `--burst` at once. Added
TTFT is the client's receipt of the first text minus the simulator's send stamp
(`[[sim:stamp=text]]`), so the simulator's own delays are not counted. Every request writes a
usage row, so the store's whole request-path cost (the recorder's append) and its writer's
batches, which run in the same worker, are in the figures.

Targets (issue 18): store on − off ≤ 0.2 ms one at a time; no change at 300 at once.
Run: `python bench/store_ttft.py` (`--help` for the knobs; `--no-postgres` without PostgreSQL).
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402

import gevent  # noqa: E402
from _common import gateway_pids  # noqa: E402
from _common import median_ms  # noqa: E402
from _common import pct_ms  # noqa: E402
from _common import proc_cpu_s  # noqa: E402
from _common import raise_nofile  # noqa: E402
from _common import sse_request  # noqa: E402
from _common import stamps_in  # noqa: E402
from _common import start_gateway  # noqa: E402
from _common import stop_gateway  # noqa: E402

from tests.integration.gateway import API_KEY  # noqa: E402

PROMPT = "store {i} [[sim:stamp=text]] [[sim:ttft={ttft}]] [[sim:chunks={chunks}]] [[sim:delay={delay}]]"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
GATEWAY_ENV = {"LINGMA_MAX_CONCURRENCY": "400", "LINGMA_QUEUE_TIMEOUT": "60",
               "LINGMA_WORKER_CONNECTIONS": "1000"}


def added_ttft(port: int, prompt: str, timeout: float) -> int:
    """Stream one chat; return its added TTFT in ns (client receipt − simulator stamp)."""
    first: list[int] = []

    def on_data(payload, now):
        for choice in json.loads(payload).get("choices", ()):
            stamps = stamps_in((choice.get("delta") or {}).get("content") or "")
            if stamps and not first:
                first.append(now - stamps[0])

    body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": prompt}]}
    status = sse_request(port, "/v1/chat/completions", body, AUTH, on_data, timeout)
    if status != 200 or not first:
        raise RuntimeError(f"status {status}, first text seen: {bool(first)}")
    return first[0]


def one_round(port: int, streams: int, args, counter, samples: list) -> None:
    def one():
        prompt = PROMPT.format(i=next(counter), ttft=args.ttft, chunks=args.chunks, delay=args.delay)
        samples.append(added_ttft(port, prompt, args.timeout))
    if streams == 1:
        for _ in range(args.serial):
            one()
        return
    jobs = [gevent.spawn(one) for _ in range(streams)]
    gevent.joinall(jobs, timeout=args.timeout, raise_error=True)


def start_postgres():
    from tests.pg import require_postgres
    from tests.pg import started

    server = started(require_postgres())
    return server, server.create_database()


def measure(gateways: dict, args) -> None:
    ports = {name: int(gw.url.rsplit(":", 1)[1]) for name, gw in gateways.items()}
    counter = itertools.count()
    for port in ports.values():  # warm up: imports, the first usage batch, the Lingma connection
        for _ in range(5):
            added_ttft(port, PROMPT.format(i=next(counter), ttft=args.ttft, chunks=1, delay=0), args.timeout)
    names = list(gateways)
    workers = {name: gateway_pids(gw)[0] for name, gw in gateways.items()}
    for level in (1, args.burst):
        samples: dict[str, list[int]] = {name: [] for name in names}
        cpu = {name: 0.0 for name in names}
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                before = proc_cpu_s(workers[name])
                one_round(ports[name], level, args, counter, samples[name])
                cpu[name] += proc_cpu_s(workers[name]) - before
        report(level, samples, cpu)


def report(level: int, samples: dict, cpu: dict) -> None:
    base = samples["off"]
    title = "one at a time" if level == 1 else f"{level} at once"
    print(f"\n{title}: added TTFT, {len(base)} streams per gateway")
    print("| store | median | p90 | p99 | median − off | worker CPU per stream |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, values in samples.items():
        delta = median_ms(values) - median_ms(base)
        print(f"| {name} | {median_ms(values):.2f} ms | {pct_ms(values, 0.9):.2f} ms | "
              f"{pct_ms(values, 0.99):.2f} ms | {delta:+.2f} ms | {cpu[name] / len(values) * 1000:.2f} ms |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serial", type=int, default=20, help="streams one at a time per round")
    parser.add_argument("--burst", type=int, default=300, help="streams at once per round")
    parser.add_argument("--ttft", type=float, default=0.2, help="simulator first-token delay")
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--no-postgres", action="store_true", help="compare off and SQLite only")
    args = parser.parse_args()
    raise_nofile()
    gateways: dict = {}
    server = None
    try:
        gateways["off"] = start_gateway(LINGMA_STORE="off", **GATEWAY_ENV)
        gateways["sqlite"] = start_gateway(**GATEWAY_ENV)
        if not args.no_postgres:
            server, url = start_postgres()
            gateways["postgresql"] = start_gateway(LINGMA_DATABASE_URL=url, **GATEWAY_ENV)
        print(f"{', '.join(gateways)}: {args.rounds} alternating rounds; {args.serial} streams one at a "
              f"time, then {args.burst} at once; first token {args.ttft * 1000:.0f} ms, "
              f"{args.chunks} chunks {args.delay * 1000:.0f} ms apart")
        measure(gateways, args)
    finally:
        for gateway in gateways.values():
            stop_gateway(gateway)
        if server is not None:
            server.close()


if __name__ == "__main__":
    main()
