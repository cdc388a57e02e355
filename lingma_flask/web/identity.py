"""Whose request this is: a fingerprint of the API key it came with, never the key itself.

Things a request leaves behind for later ones (stored responses) carry this identity, so that
another key cannot reach them. The fingerprint is an HMAC under a secret drawn when the process
starts: it names a key within this process and tells nothing about the key outside it. Without
configured keys every client is this machine's, and all share one identity.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app

from ..extension import get_settings
from .auth import key_matches
from .auth import presented_key
from .requestlog import current_record

LOCAL = "local"
NAME_LENGTH = 12  # hex digits of a key's name in the request log
_SECRET = secrets.token_bytes(32)


def fingerprint(key: str, secret: bytes = _SECRET) -> str:
    """Return a short, one-way name for a key (128 bits of HMAC-SHA256 under `secret`)."""
    return hmac.new(secret, key.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]


def key_identity() -> str:
    """Return the current request's identity: its API key's fingerprint, or LOCAL when keyless."""
    key = presented_key() if get_settings().api_keys else None
    return fingerprint(key) if key else LOCAL


def key_name(key: str) -> str:
    """Name an API key in the request log: a short HMAC under the session secret.

    The session secret is shared by every worker and kept across restarts, so one key keeps
    one name in every line; without the secret the name tells nothing about the key.
    """
    return fingerprint("api key:" + key, str(current_app.secret_key).encode())[:NAME_LENGTH]


def name_key_in_log(response):
    """Put the configured API key the request came with, by its name, in its log line."""
    keys = get_settings().api_keys
    key = presented_key() if keys else None
    if key and key_matches(key, keys):
        current_record().key = key_name(key)
    return response
