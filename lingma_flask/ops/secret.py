"""The key that signs session cookies: LINGMA_SECRET_KEY, else one kept in the work-dir root.

Every gunicorn worker builds its own app, and a cookie signed by one worker must be read by
the others, so a generated key is written once to `<LINGMA_WORK_DIR>/.secret_key` (mode 0600)
and read back by every worker after that, and by the next start of the gateway. The admin
sessions' generation (ops/admin_session.py) is a key file of the same kind.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from flask import Flask

from ..lingma.settings import CoreSettings

FILE_NAME = ".secret_key"
KEY_BYTES = 32

log = logging.getLogger(__name__)


def init_secret_key(app: Flask) -> None:
    """Give `app` its secret key: configured, else ephemeral under TESTING, else the file's."""
    # LINGMA_SECRET_KEY arrives as SECRET_KEY through from_prefixed_env("LINGMA")
    if app.config.get("SECRET_KEY"):
        return
    if app.testing:
        # test apps must not write into the user's real work dir
        app.config["SECRET_KEY"] = secrets.token_urlsafe(KEY_BYTES)
        return
    root = CoreSettings.from_mapping(app.config).work_root()
    app.config["SECRET_KEY"] = load_or_create(root / FILE_NAME)


def load_or_create(path: Path) -> str:
    """Return the key stored at `path`, creating it (0600) first if there is none."""
    key = _read(path)
    if key:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    if _publish(path, secrets.token_urlsafe(KEY_BYTES)):
        log.info("Generated %s (set LINGMA_SECRET_KEY to choose the session key)", path)
    key = _read(path)
    if not key:
        raise RuntimeError(f"The key file {path} is empty; delete it to get a new key"
                           " (for the session key: or set LINGMA_SECRET_KEY).")
    return key


def replace_key(path: Path) -> str:
    """Replace the key stored at `path` with a new random one (0600, atomic) and return it."""
    key = secrets.token_urlsafe(KEY_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _private_temp(path, key)
    try:
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return key


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip() or None
    except FileNotFoundError:
        return None


def _publish(path: Path, key: str) -> bool:
    """Link a private file holding `key` into place unless one exists; tell whether it did.

    The link is atomic and refuses to replace a file, so when workers start together exactly
    one key wins and nobody reads a half-written file.
    """
    temp = _private_temp(path, key)
    try:
        os.link(temp, path)
        return True
    except FileExistsError:
        return False  # another worker was first: its key is the one
    finally:
        temp.unlink(missing_ok=True)


def _private_temp(path: Path, key: str) -> Path:
    """Write `key` to a new 0600 file beside `path` and return the file's path."""
    temp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(key + "\n")
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp
