"""Counts of this worker's threads and greenlets, for leak checks (the soak, an operator).

`threads` is `threading.active_count()`: Thread objects, which are greenlets under gevent's
monkey-patching. `native_threads` counts the OS threads of the process (Linux /proc); under
gevent these include `threadpool_threads`, the hub's threadpool that runs DNS lookups (also
of 127.0.0.1: each connection the worker opens to Lingma), whose threads exit after 5 idle
seconds and take their two greenlets with them.
`greenlets` counts the live greenlets on the heap; finding them walks every object the
garbage collector tracks (about 10 ms for a worker's 65,000 objects), so the admin API
computes these only on request.
"""

from __future__ import annotations

import gc
import itertools
import os
import threading


def runtime_counts() -> dict:
    """Return the worker's pid, thread counts and live greenlets."""
    return {"pid": os.getpid(), "threads": threading.active_count(),
            "native_threads": native_threads(), "threadpool_threads": threadpool_threads(),
            "greenlets": live_greenlets()}


def native_threads() -> int | None:
    """Count the process's OS threads (None where /proc is missing)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def threadpool_threads() -> int | None:
    """Count the threads of gevent's hub threadpool (None when gevent has not patched sockets)."""
    try:
        from gevent import get_hub
        from gevent import monkey
    except ImportError:
        return None
    if not monkey.is_module_patched("socket"):
        return None
    pool = getattr(get_hub(), "_threadpool", None)   # the property would create one
    return pool.size if pool is not None else 0


def live_greenlets() -> int | None:
    """Count greenlets that have not finished (None when greenlet is not installed)."""
    try:
        from greenlet import greenlet
    except ImportError:
        return None
    objects = gc.get_objects()
    try:
        found = list(itertools.compress(objects, map(isinstance, objects, itertools.repeat(greenlet))))
    finally:
        del objects
    return sum(1 for g in found if not g.dead)
