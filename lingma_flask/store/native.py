"""`call()`: run a blocking C call in a native thread when gevent has patched this process.

Why: a gunicorn worker runs every request on one gevent event loop, and SQLite's calls are C
calls that never yield to it. A commit takes a few milliseconds (much more on a slow disk, and
up to the busy timeout while another process holds the write lock, SQLite then sleeping in C),
and every other request of the worker would stall meanwhile. Under gevent's patching `call()`
hands the function to one native thread of this process and the calling greenlet waits for it
cooperatively, so the event loop runs on. Without the patching (plain threads: the tests, the
migration child, the `lingma-flask store` commands) it runs the function in the caller's
thread, as any call.

All calls go to the *same* native thread (a gevent ThreadPool of one), in the order they are
made: a SQLite connection is thus never used from two OS threads at once, even when a waiting
greenlet is killed (whatever it does next, a rollback, queues behind the call still running).
The thread is a bare native thread, which never keeps the process alive at exit.

Not for PostgreSQL: psycopg already waits through gevent when the process is patched, and those
waits must stay on the event loop's thread.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any
from typing import TypeVar

T = TypeVar("T")

_pool: tuple[int, int, Any] | None = None   # (pid, the native thread of its hub, the ThreadPool)


def patched() -> bool:
    """Whether gevent has patched `threading` here (the store's writer is then a greenlet)."""
    monkey = sys.modules.get("gevent.monkey")   # not imported: nothing is patched
    return monkey is not None and bool(monkey.is_module_patched("threading"))


def call(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)`, run in this process's native thread under gevent's patching (the calling
    greenlet waiting cooperatively), else in the caller's thread; its exception is raised here."""
    pool = _pool_here() if patched() else None
    if pool is None:
        return function(*args)
    ok, value = pool.spawn(_guarded, function, args).get()
    if not ok:
        raise value
    return value


def _guarded(function: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
    # an exception is handed back as a value: the pool would also print it as an error of the hub
    try:
        return True, function(*args)
    except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
        return False, exc


def _pool_here() -> Any:
    """This process's pool of one native thread, or None where the caller must not wait for it:
    in the hub itself (a callback of the event loop, a finalizer run there) or in a native thread
    other than the one whose hub the pool reports to (the worker's main thread)."""
    import gevent
    from gevent import monkey
    from gevent.threadpool import ThreadPool

    global _pool
    native = monkey.get_original("_thread", "get_ident")()
    if _pool is None or _pool[0] != os.getpid():   # the first call, or a forked child's
        _pool = (os.getpid(), native, ThreadPool(1))
    _, owner, pool = _pool
    if native != owner or gevent.getcurrent() is pool.hub:
        return None
    return pool
