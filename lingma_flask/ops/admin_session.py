"""Admin sessions: bound to the admin key, and to a generation that signing out replaces.

The session cookie is signed, not encrypted, so it names the admin key only by a fingerprint
(an HMAC under the session secret: a stolen cookie allows no offline guessing). A session is
valid while its fingerprint is the configured key's (changing LINGMA_ADMIN_KEY, or setting
one where there was none, ends every session) and its generation is the current one. Signing
out replaces the generation, which ends every admin session, in every worker: it is kept in
`<LINGMA_WORK_DIR>/.admin_generation` (in memory for test apps without a work dir).
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from flask import Flask
from flask import current_app
from flask import session

from ..extension import get_settings
from ..lingma.settings import CoreSettings
from ..web.identity import fingerprint
from . import csrf
from .secret import load_or_create
from .secret import replace_key

FILE_NAME = ".admin_generation"
EXTENSION = "lingma_admin_generation"


class Generation:
    """The current admin-session generation: a key file shared by the workers, or memory."""

    def __init__(self, path: Path | None):
        self.path = path
        self._value = secrets.token_urlsafe(16)

    def current(self) -> str:
        """Return the generation valid sessions carry."""
        return self._value if self.path is None else load_or_create(self.path)

    def replace(self) -> None:
        """Start a new generation: every session of the old one ends."""
        if self.path is None:
            self._value = secrets.token_urlsafe(16)
        else:
            replace_key(self.path)


def init_admin_sessions(app: Flask) -> None:
    """Give `app` the generation store (after its secret key is set)."""
    if app.testing and not app.config.get("WORK_DIR"):
        app.extensions[EXTENSION] = Generation(None)  # never the user's real work dir
        return
    root = CoreSettings.from_mapping(app.config).work_root()
    app.extensions[EXTENSION] = Generation(root / FILE_NAME)


def key_fingerprint() -> str:
    """Name the configured admin key (or its absence) without revealing it."""
    key = get_settings().admin_key
    material = "no admin key" if key is None else "admin key:" + key
    # under the session secret, unlike API keys' per-process one: every worker must agree
    return fingerprint(material, str(current_app.secret_key).encode())


def signed_in() -> bool:
    """Tell whether the session is a valid admin session: this key, this generation."""
    if session.get("admin") is not True:
        return False
    key, generation = session.get("key"), session.get("generation")
    if not isinstance(key, str) or not isinstance(generation, str):
        return False
    return (hmac.compare_digest(key.encode(), key_fingerprint().encode())
            and hmac.compare_digest(generation.encode(), generation_store().current().encode()))


def start() -> None:
    """Make the session a fresh admin session, with a new CSRF token."""
    session.clear()
    session.update(admin=True, key=key_fingerprint(), generation=generation_store().current())
    csrf.rotate_token()


def end_all() -> None:
    """Sign this browser out, and every other admin session with it."""
    generation_store().replace()
    session.clear()


def generation_store() -> Generation:
    """Return this app's generation store."""
    return current_app.extensions[EXTENSION]
