"""Where the gunicorn worker's CPU goes on a burst of streams, per request, by layer (issue 17).

Starts the real gateway (gunicorn + one gevent worker, default log level) on its simulator,
warms it up, then samples the worker with py-spy (`record --format raw --nonblocking`, idle
samples dropped; py-spy comes from the benchmark tools venv, `bench/_seed.py`) while
`--bursts` bursts of `--burst` streams (200 ms first token, four chunks) run. Each sample is
given to the layer of the innermost frame that belongs to a known layer (stdlib and gevent
frames are skipped on the way out, so a socket send counts for whoever sent), and the table shows each layer's share of
the samples and its CPU per request (the share times the worker's CPU per request from
/proc/<pid>/stat). `--top N` also prints the N hottest innermost project/library functions.
Run: `python bench/profile_burst.py` (`--help` for the knobs).
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import collections  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from _common import gateway_pids  # noqa: E402
from _common import proc_cpu_s  # noqa: E402
from _common import raise_nofile  # noqa: E402
from _common import sse_chat  # noqa: E402
from _common import start_gateway  # noqa: E402
from _common import stop_gateway  # noqa: E402
from _seed import tools_python  # noqa: E402

from tests.integration.gateway import API_KEY  # noqa: E402

PROMPT = "prof {i} [[sim:ttft={ttft}]] [[sim:chunks={chunks}]] [[sim:delay={delay}]]"

# (layer, path pattern, optional function pattern), tried in order on each frame from the
# innermost out; the first frame that matches a rule names the sample's layer.
RULES = [
    ("metrics (prometheus-client multiprocess)", r"(^|/)prometheus_client/|lingma_flask/ops/metrics", None),
    ("JSON logs", r"lingma_flask/logs\.py|lingma_flask/web/requestlog\.py|(^|/)logging/", None),
    ("body and validation", r"lingma_flask/web/connection\.py", r"read_body|_read|_chunked|body"),
    ("Flask/Werkzeug", r"lingma_flask/web/connection\.py", r"^init_app\.<locals>\.guarded_app$"),
    ("guards and watchdogs", r"lingma_flask/web/(connection|guard|auth|backoff)\.py|lingma_flask/ops/(ticker|alert)",
     None),
    ("body and validation",
     r"lingma_flask/(web/body|api/validation|api/\w+_request|strict_json)|(^|/)(jsonschema|pydantic)", None),
    ("pipeline", r"lingma_flask/pipeline/", None),
    ("RPC framing (WebSocket + LSP)", r"lingma_flask/lingma/(rpc|framing|wsframes)\.py", None),
    ("core: pool, instance, stream", r"lingma_flask/lingma/", None),
    ("SSE and the face's stream", r"lingma_flask/web/sse\.py|lingma_flask/api/(face|chat_shapes)\.py", None),
    ("API face (chat view)", r"lingma_flask/api/", None),
    ("observers, request record, identity, other web", r"lingma_flask/", None),
    ("Flask/Werkzeug", r"(^|/)(flask|werkzeug)/", None),
    ("gunicorn (HTTP parse, write, worker; its access-log atoms)", r"(^|/)gunicorn/", None),
]
HUB = "gevent hub, timers, greenlet switches"  # a sample with no frame of the layers above
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def layer_of(stack: list[str]) -> tuple[str, str]:
    """The layer of one sample (frames root first), and its innermost frame."""
    parsed = [m.groupdict() if (m := FRAME.match(frame)) else {"func": frame, "file": ""} for frame in stack]
    for frame in reversed(parsed):
        for layer, path_re, func_re in RULES:
            if re.search(path_re, frame["file"]) and (func_re is None or re.search(func_re, frame["func"])):
                return layer, f"{frame['func']} ({short(frame['file'])})"
    leaf = parsed[-1] if parsed else {"func": "?", "file": ""}
    hub = any(re.search(r"(^|/)(gevent|greenlet)/", frame["file"]) for frame in parsed)
    return HUB if hub else "other (stdlib, C)", f"{leaf['func']} ({short(leaf['file'])})"


def short(path: str) -> str:
    """A file path from the package or site-packages on."""
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def burst(port: int, n: int, args, errors: list) -> None:
    """Start `n` streams at once and read each to its end."""
    def one(i):
        try:
            status = sse_chat(port, PROMPT.format(i=i, ttft=args.ttft, chunks=args.chunks, delay=args.delay),
                              API_KEY, lambda text, now: None, timeout=60)
            if status != 200:
                errors.append(f"status {status}")
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(repr(exc))
    jobs = [gevent.spawn(one, i) for i in range(n)]
    gevent.joinall(jobs, timeout=90)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=300, help="streams started at once (default 300)")
    parser.add_argument("--bursts", type=int, default=5, help="bursts sampled (default 5)")
    parser.add_argument("--ttft", type=float, default=0.2)
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--rate", type=int, default=500, help="py-spy samples per second (default 500)")
    parser.add_argument("--top", type=int, default=25, help="hottest innermost functions to list")
    parser.add_argument("--raw", help="keep py-spy's raw stacks in this file")
    parser.add_argument("--analyse", metavar="FILE", help="only analyse raw stacks saved by --raw earlier")
    parser.add_argument("--per-request-ms", type=float, default=0.0, help="with --analyse: worker CPU per request")
    args = parser.parse_args()
    if args.analyse:
        report(Path(args.analyse), args.per_request_ms, args.top)
        return
    raise_nofile()
    py_spy = tools_python().parent / "py-spy"
    out = Path(args.raw) if args.raw else Path(tempfile.mkdtemp(prefix="lingma-prof-")) / "stacks.txt"
    gateway = spy = None
    try:
        gateway = start_gateway(LINGMA_MAX_CONCURRENCY=str(args.burst + 100), LINGMA_QUEUE_TIMEOUT="60",
                                LINGMA_WORKER_CONNECTIONS=str(args.burst + 500), LINGMA_LOG_LEVEL="INFO")
        port = int(gateway.url.rsplit(":", 1)[1])
        worker, sim, _ = gateway_pids(gateway)
        errors: list[str] = []
        burst(port, 20, args, errors)  # warm-up
        gevent.sleep(0.5)
        spy = subprocess.Popen([str(py_spy), "record", "--pid", str(worker), "--format", "raw", "--rate",
                                str(args.rate), "--nonblocking", "--output", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        gevent.sleep(1.0)  # py-spy attached
        cpu0 = proc_cpu_s(worker)
        for _ in range(args.bursts):
            burst(port, args.burst, args, errors)
            gevent.sleep(0.3)
        cpu = proc_cpu_s(worker) - cpu0
        spy.send_signal(signal.SIGINT)
        spy.wait(30)
        spy = None
        streams = args.burst * args.bursts
        print(f"worker {worker}: {streams} streams in {args.bursts} bursts of {args.burst}, {len(errors)} failed; "
              f"worker CPU {cpu:.2f} s")
        report(out, cpu / streams * 1000, args.top)
        if args.raw:
            print(f"raw stacks: {out}")
    finally:
        if spy is not None:
            spy.kill()
        if gateway is not None:
            stop_gateway(gateway)


def report(out: Path, per_request_ms: float, top: int) -> None:
    """Print the layer table and the hottest innermost frames of py-spy's raw stacks in `out`."""
    layers: collections.Counter = collections.Counter()
    leaves: collections.Counter = collections.Counter()
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        layer, leaf = layer_of(stack.split(";"))
        layers[layer] += int(count)
        leaves[f"{layer}: {leaf}"] += int(count)
    total = sum(layers.values())
    print(f"{per_request_ms:.2f} ms of worker CPU per request; {total} non-idle samples")
    print("\n| layer | share of worker CPU | per request |\n| --- | --- | --- |")
    for layer, n in layers.most_common():
        print(f"| {layer} | {n / total * 100:.1f} % | {n / total * per_request_ms * 1000:.0f} µs |")
    print(f"\nhottest innermost frames (top {top}):")
    for leaf, n in leaves.most_common(top):
        print(f"  {n / total * 100:5.1f} %  {leaf}")


if __name__ == "__main__":
    main()
