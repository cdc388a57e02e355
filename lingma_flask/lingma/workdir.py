"""A spawned Lingma's work dir: the `.info` it writes when ready and its log.

Lingma writes `.info` (text: port and pid on two lines) or `.info.json` once it listens
(protocol 1.5); the login it keeps in `cache/` is login.py's.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOG_NAME = "lingma-stdout.log"
INFO_NAMES = (".info", ".info.json")


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
