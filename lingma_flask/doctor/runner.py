"""Run one check: catch what it raises, time it, and give up on it at a deadline.

Each check runs in a daemon thread, so a server that keeps a stream open without ever finishing
it (keepalive comments reset no SDK timeout) cannot hang the doctor: the row fails when the
deadline passes and the thread is left behind.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

from .report import FAIL
from .report import PASS
from .report import Row

DETAIL_LIMIT = 300


class CheckFailed(Exception):
    """A check found an answer the SDK parsed but that is wrong; the message says how."""


def expect(condition, message: str) -> None:
    """Fail the check with `message` unless `condition` holds."""
    if not condition:
        raise CheckFailed(message)


@dataclasses.dataclass(frozen=True)
class Check:
    """A named check of one API: a callable that returns a short detail or raises."""

    api: str
    name: str
    run: Callable[..., str]


def one_line(text: str, limit: int = DETAIL_LIMIT) -> str:
    """Collapse whitespace to single spaces and cut the text at `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def describe(error: BaseException) -> str:
    """Return an exception as one line: the message of a CheckFailed, else type and message."""
    if isinstance(error, CheckFailed):
        return one_line(str(error))
    return one_line(f"{type(error).__name__}: {error}")


def run_check(api: str, name: str, work: Callable[[], str], deadline: float) -> Row:
    """Run `work` in a daemon thread; return its row (FAIL if it raised or outlived `deadline`)."""
    outcome: dict = {}

    def target():
        started = time.monotonic()
        try:
            outcome.update(status=PASS, detail=one_line(work() or ""))
        except BaseException as error:   # every failure is a row, never a crash of the doctor
            outcome.update(status=FAIL, detail=describe(error))
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=target, name=f"doctor {api} {name}", daemon=True)
    thread.start()
    thread.join(deadline)
    if thread.is_alive():
        return Row(api, name, FAIL, deadline, f"no result within {deadline:g}s: gave up")
    return Row(api, name, outcome["status"], outcome["seconds"], outcome["detail"])
