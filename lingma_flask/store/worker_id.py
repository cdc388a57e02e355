"""This worker's id in the store's shared tables: random, per process.

Not the pid: pids are reused (a restarted worker in a container often gets its predecessor's),
and a new worker must not take its predecessor's rows for its own. Made again after a fork.
"""

from __future__ import annotations

import os
import secrets

ID_BYTES = 8   # 16 hex digits (tables.WORKER_CHARS holds 32)

_ids: dict[int, str] = {}


def worker_id() -> str:
    """This process's id (the same for every call in one process)."""
    pid = os.getpid()
    found = _ids.get(pid)
    if found is None:
        found = _ids[pid] = secrets.token_hex(ID_BYTES)
    return found
