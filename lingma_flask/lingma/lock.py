"""An OS file lock on a work root, so two gateways never run Lingmas in the same work dirs.

Two gateways on one `LINGMA_WORK_DIR` would delete each other's `.info`, connect to each
other's Lingma and kill it on stop. The first to start holds `<root>/.gateway.lock` (an
advisory `flock`, released by the OS when the holder exits, however it exits); the second
refuses to start and names the first's pid.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .errors import LingmaWorkDirBusyError

if sys.platform != "win32":  # Windows has no flock: the lock is best effort there
    import fcntl

LOCK_NAME = ".gateway.lock"


class WorkDirLock:
    """Hold the lock on one work root for this process's lifetime (or until `release`)."""

    def __init__(self, root: Path):
        self.path = Path(root) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise LingmaWorkDirBusyError naming the holder's pid."""
        if self._fd is not None or sys.platform == "win32":
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            raise LingmaWorkDirBusyError(
                f"another lingma-flask{f' (pid {holder})' if holder else ''} already uses the work"
                f" dir {self.path.parent}; stop it, or give this gateway its own LINGMA_WORK_DIR"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (the OS also does it when the process ends)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).split()[0])
    except (OSError, ValueError, IndexError):
        return None
