"""One Lingma login for the whole gateway: a shared login folder every instance syncs with.

Lingma keeps its login in `<work dir>/cache/id` and `cache/user` (protocol 1.4); a copy of the
pair in another work dir restores the login when Lingma starts there (`seed_login` copies one
in before a start, from the IDE's `~/.lingma/cache` or `LINGMA_LOGIN_FROM`). The folder
`<LINGMA_WORK_DIR>/login/` (shared by every instance of every worker) holds:

* `id`, `user`: the last login an instance saw, published by it;
* `loggedout`: written when an operator logs out, so instances logged in before it log out;
* `pending.json`: the login in progress (URL, state, callback port and path), so any worker
  can report it and accept its pasted callback.

Files are replaced atomically; nothing here talks to Lingma.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FILES = ("id", "user")   # `user` last: once it exists, the pair is complete
LOGGED_OUT = "loggedout"
PENDING = "pending.json"


def _write(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    os.chmod(partial, 0o600)
    os.replace(partial, path)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _copy_login(source: Path, target: Path) -> bool:
    """Copy `id` and `user` from `source` to `target`; False (nothing copied) if one is missing."""
    records: dict[str, bytes] = {}
    for name in FILES:
        data = _read(source / name)
        if data is None:
            return False
        records[name] = data
    target.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        _write(target / name, records[name])
    return True


def default_login_source() -> Path | None:
    """Return `~/.lingma/cache` (where the IDE's Lingma keeps its login) if it exists."""
    path = Path.home() / ".lingma" / "cache"
    return path if path.is_dir() else None


def _login_dir(source: Path) -> Path:
    """Accept a `cache/` folder or a whole work dir that holds one."""
    if not (source / "user").is_file() and (source / "cache" / "user").is_file():
        return source / "cache"
    return source


def seed_login(work_dir: Path | str, login_from: Path | str | None = None) -> bool:
    """Copy `id` and `user` from a logged-in cache/ into `work_dir/cache/` unless it has a user.

    `login_from` None means `default_login_source()`. Returns True when files were copied. An
    existing `cache/user` is never touched; `id` is copied with it, because the login record
    belongs to its machine id.
    """
    source = Path(login_from).expanduser() if login_from else default_login_source()
    if source is None:
        return False
    source, target = _login_dir(source), Path(work_dir) / "cache"
    if (target / "user").exists():
        return False
    if not _copy_login(source, target):
        log.info("no login to seed from %s (needs cache/id and cache/user)", source)
        return False
    log.info("seeded Lingma login from %s into %s", source, target)
    return True


class SharedLogin:
    """The shared login folder (see the module docstring)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def has_login(self) -> bool:
        """Tell whether a published login is there."""
        return all((self.folder / name).is_file() for name in FILES)

    def publish(self, cache: Path) -> bool:
        """Copy a logged-in `cache/` (id and user) here; clear the logout and pending marks."""
        if not _copy_login(Path(cache), self.folder):
            return False
        for name in (LOGGED_OUT, PENDING):
            (self.folder / name).unlink(missing_ok=True)
        return True

    def differs_from(self, cache: Path) -> bool:
        """Tell whether the published login is not the one in `cache/`."""
        return any(_read(self.folder / name) != _read(Path(cache) / name) for name in FILES)

    def seed(self, cache: Path) -> bool:
        """Copy the published login into `cache/`; return whether it was copied."""
        return _copy_login(self.folder, Path(cache))

    def stamp(self) -> bytes | None:
        """What identifies the published login (its `user` record), None when there is none."""
        return _read(self.folder / FILES[-1])

    def records(self) -> dict[str, bytes] | None:
        """The published login's files by name (`id`, `user`), None unless both are there."""
        found: dict[str, bytes] = {}
        for name in FILES:
            data = _read(self.folder / name)
            if data is None:
                return None
            found[name] = data
        return found

    def login_time(self) -> float | None:
        """When the published login was written here (its `user` file's time), None without one."""
        try:
            return (self.folder / FILES[-1]).stat().st_mtime
        except OSError:
            return None

    def adopt(self, records: dict[str, bytes]) -> None:
        """Publish a login given as its files (`id`, `user`: another host's, through the store);
        clear the logout and pending marks, as `publish` does."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            _write(self.folder / name, records[name])
        for name in (LOGGED_OUT, PENDING):
            (self.folder / name).unlink(missing_ok=True)

    def forget(self) -> None:
        """Unpublish a login Lingma no longer accepts (no logout mark: nobody logged out)."""
        for name in FILES:
            (self.folder / name).unlink(missing_ok=True)

    def mark_logged_out(self) -> None:
        """Forget the published login and tell every instance to log out."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for name in (*FILES, PENDING):
            (self.folder / name).unlink(missing_ok=True)
        _write(self.folder / LOGGED_OUT, str(time.time()).encode())

    def logged_out_at(self) -> float | None:
        """When an operator last logged out (None if the login stands)."""
        data = _read(self.folder / LOGGED_OUT)
        try:
            return float(data) if data else None
        except ValueError:
            return None

    def save_pending(self, pending: dict[str, Any]) -> None:
        """Remember the login in progress."""
        self.folder.mkdir(parents=True, exist_ok=True)
        _write(self.folder / PENDING, json.dumps(pending).encode())

    def pending(self) -> dict[str, Any] | None:
        """The login in progress, if any (a file that holds no JSON object counts as none)."""
        data = _read(self.folder / PENDING)
        try:
            value = json.loads(data) if data else None
        except ValueError:
            return None
        return value if isinstance(value, dict) else None
