"""The simulator's work dir: `.info`, `logs/`, `cache/` and the file-based login state."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

ACCOUNT = {
    "name": "sim-user@example.com",
    "id": "1234567890123456",
    "accountId": "1234567890123456",
    "userType": "personal_standard",
    "cloudType": "individual_intl",
}


class WorkDir:
    """Paths and files of one `--workDir`; login state is the presence of `cache/user`."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self.logs = self.root / "logs"
        self.cache = self.root / "cache"
        self.info = self.root / ".info"
        self.info_json = self.root / ".info.json"
        self.user_file = self.cache / "user"
        self.id_file = self.cache / "id"

    def prepare(self) -> None:
        """Create `logs/` and `cache/` (and the rest of the usual layout)."""
        for path in (self.logs, self.cache, self.root / "index"):
            path.mkdir(parents=True, exist_ok=True)

    def copy_from(self, source: str) -> None:
        """`--copyDataDir`: seed from another work dir, without its login or `.info`."""
        skip = shutil.ignore_patterns("user", ".info", ".info.json", "logs")
        shutil.copytree(source, self.root, ignore=skip, dirs_exist_ok=True)

    # login -----------------------------------------------------------------
    def logged_in(self) -> bool:
        """True when `cache/user` exists."""
        return self.user_file.exists()

    def login(self) -> None:
        """Write `cache/id` (if missing) and `cache/user`, as a completed browser login does."""
        self.cache.mkdir(parents=True, exist_ok=True)
        if not self.id_file.exists():
            self.id_file.write_text(str(uuid.uuid4()))
        record = dict(ACCOUNT, loginAt=int(time.time() * 1000))
        self.user_file.write_text(json.dumps(record))

    def logout(self) -> None:
        """Delete `cache/user`."""
        try:
            self.user_file.unlink()
        except FileNotFoundError:
            pass

    def account(self) -> dict:
        """The account fields of the login record (defaults when it is unreadable)."""
        try:
            record = json.loads(self.user_file.read_text())
        except (OSError, ValueError):
            record = {}
        if not isinstance(record, dict):
            record = {}
        return {key: str(record.get(key) or value) for key, value in ACCOUNT.items()}

    # .info -----------------------------------------------------------------
    def write_info(self, port: int, *, third_line: bool = False, as_json: bool = False) -> None:
        """Write `.info` as `port\\npid\\n` (atomically), optionally with an IPC third line."""
        pid = os.getpid()
        ipc = "\\\\.\\pipe\\lingma-%06x" % (pid & 0xFFFFFF)
        text = f"{port}\n{pid}\n" + (ipc + "\n" if third_line else "")
        _atomic_write(self.info, text)
        if as_json:
            body = {"websocketPort": port, "pid": pid, "ipcServerPath": ipc, "isDev": False}
            _atomic_write(self.info_json, json.dumps(body))

    def remove_info(self) -> None:
        """Remove `.info` and `.info.json` (clean shutdown)."""
        for path in (self.info, self.info_json):
            try:
                path.unlink()
            except FileNotFoundError:
                pass


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
