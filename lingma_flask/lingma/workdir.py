"""A spawned Lingma's work dir: the `.info` it writes when ready, its log, the login seeded into it.

Lingma writes `.info` (text: port and pid on two lines) or `.info.json` once it listens
(protocol 1.5), and keeps its login in `cache/id` and `cache/user` (protocol 1.4).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOG_NAME = "lingma-stdout.log"
INFO_NAMES = (".info", ".info.json")
LOGIN_FILES = ("id", "user")   # `user` last: once it exists, the pair is complete


def _valid(port: Any, pid: Any) -> tuple[int, int] | None:
    """Return (port, pid) when both read as numbers in range; they come from a file Lingma wrote."""
    try:
        port, pid = int(port), int(pid)
    except (TypeError, ValueError):
        return None
    return (port, pid) if 0 < port < 65536 and pid > 0 else None


def _read_text_info(path: Path) -> tuple[int, int] | None:
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError:
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return _valid(lines[0], lines[1]) if len(lines) >= 2 else None


def _read_json_info(path: Path) -> tuple[int, int] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or isinstance(data.get("websocketPort"), bool):
        return None
    return _valid(data.get("websocketPort"), data.get("pid"))


def read_info(work_dir: Path | str) -> tuple[int, int] | None:
    """Return (websocket port, pid) from `work_dir/.info` or `.info.json`, None if not readable yet."""
    work_dir = Path(work_dir)
    return _read_text_info(work_dir / ".info") or _read_json_info(work_dir / ".info.json")


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
    source = _login_dir(source)
    target = Path(work_dir) / "cache"
    if (target / "user").exists():
        return False
    if not all((source / name).is_file() for name in LOGIN_FILES):
        log.info("no login to seed from %s (needs cache/id and cache/user)", source)
        return False
    target.mkdir(parents=True, exist_ok=True)
    for name in LOGIN_FILES:
        partial = target / f".{name}.seeding"
        shutil.copyfile(source / name, partial)
        os.chmod(partial, 0o600)
        os.replace(partial, target / name)
    log.info("seeded Lingma login from %s into %s", source, target)
    return True
