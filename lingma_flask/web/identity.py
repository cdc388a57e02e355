"""Whose request this is: the configured name of its API key, or a fingerprint; never the key.

`current_key_name()` is the name (`name:key` in LINGMA_API_KEYS, else `key-<8 hex>`) that the
request log, the metrics, the status page, usage and the limits use; None when keyless.

Things a request leaves behind for later ones (stored responses, thread messages) carry that
name (`LOCAL` when keyless: every client is then this machine's, and all share it), the same on
every worker and host, so another key cannot reach them. `fingerprint()` is an HMAC under a
secret (the admin session's key, or one drawn when the process starts): a one-way name for a key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from .requestlog import current_record

LOCAL = "local"
_SECRET = secrets.token_bytes(32)


def fingerprint(key: str, secret: bytes = _SECRET) -> str:
    """Return a short, one-way name for a key (128 bits of HMAC-SHA256 under `secret`)."""
    return hmac.new(secret, key.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]


def current_key_name() -> str | None:
    """The name of the configured key the current request came with; None when keyless.

    Set on the request's record by `auth.require_api_key` once the key matched, so it is None
    before that and on routes that take no API key.
    """
    return current_record().key
