"""gunicorn settings for `bench/gc_pauses.py`: the project's own, with the collector watched.

`gunicorn.conf.py` is run as is; its `post_worker_init` (which freezes the loaded app for the
collector, then starts the pool) is wrapped: with `BENCH_GC_UNFREEZE=1` the worker
unfreezes the app again (the collector as it was before the freeze), with
`BENCH_GC_THRESHOLD=N` it collects its youngest generation every N allocations instead of
Python's 700 (`gc.set_threshold`), and in every case a
`gc.callbacks` entry times every collection by generation. The worker writes the counts,
total and longest pause to `$BENCH_GC_FILE` (JSON) when it exits.
"""
import json
import time
from pathlib import Path

exec(compile((Path(__file__).resolve().parent.parent / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"))

_project_post_worker_init = post_worker_init  # noqa: F821 - defined by the exec above
_project_worker_exit = worker_exit  # noqa: F821


def post_worker_init(worker):  # noqa: F811 - wraps the project's hook on purpose
    """The project's hook, then (optionally) unfreeze, then time each collection."""
    _project_post_worker_init(worker)
    if os.environ.get("BENCH_GC_UNFREEZE") == "1":  # noqa: F821 - os comes from the exec
        gc.unfreeze()  # noqa: F821
    if os.environ.get("BENCH_GC_THRESHOLD"):  # noqa: F821
        gc.set_threshold(int(os.environ["BENCH_GC_THRESHOLD"]), *gc.get_threshold()[1:])  # noqa: F821
    stats = {gen: {"count": 0, "total_s": 0.0, "max_s": 0.0} for gen in (0, 1, 2)}
    started = [0.0]

    def timed(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
            return
        took = time.perf_counter() - started[0]
        entry = stats[info["generation"]]
        entry["count"] += 1
        entry["total_s"] += took
        entry["max_s"] = max(entry["max_s"], took)

    gc.callbacks.append(timed)  # noqa: F821
    worker.lingma_gc_stats = stats


def worker_exit(server, worker):  # noqa: F811 - wraps the project's hook on purpose
    """Write the collector's figures, then the project's hook."""
    stats = getattr(worker, "lingma_gc_stats", None)
    path = os.environ.get("BENCH_GC_FILE")  # noqa: F821
    if stats is not None and path:
        Path(path).write_text(json.dumps({"stats": stats, "frozen": gc.get_freeze_count()}))  # noqa: F821
    _project_worker_exit(server, worker)
