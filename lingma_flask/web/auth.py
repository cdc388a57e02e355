"""API keys: `Authorization: Bearer <key>` or `x-api-key`, compared in constant time.

With no LINGMA_API_KEYS configured, only loopback clients are served. Keys are never logged:
the request's record carries the matched key's name (web/identity.py reads it). A client that
keeps sending wrong keys is refused for a while (web/backoff.py).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable

from flask import request

from ..apikeys import ApiKey
from ..extension import current_request
from ..extension import get_settings
from .backoff import count_failure
from .backoff import refuse_if_locked
from .errors import ApiError
from .requestlog import current_record

NO_KEYS_MESSAGE = (
    "No API keys are configured, so only local clients (127.0.0.1, ::1) are served."
    " Set LINGMA_API_KEYS=key1,key2 on the gateway and send one as 'Authorization: Bearer <key>'."
)


def is_loopback(address: str | None) -> bool:
    """Tell whether a client address is the local machine."""
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def presented_key() -> str | None:
    """Return the key the client sent, from Authorization: Bearer or x-api-key."""
    headers = current_request().headers
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key", "").strip() or None


def key_matches(given: str, keys: tuple[str, ...]) -> bool:
    """Compare against every key in constant time (no early exit)."""
    results = [hmac.compare_digest(given.encode(), key.encode()) for key in keys]
    return any(results)


def matching_key(given: str, keys: Iterable[ApiKey]) -> ApiKey | None:
    """Return the configured key `given` is, comparing against every one (no early exit)."""
    found = None
    for entry in keys:
        if hmac.compare_digest(given.encode("utf-8", "surrogatepass"), entry.key.encode("utf-8", "surrogatepass")):
            found = entry
    return found


FORWARDED = ("X-Forwarded-For", "X-Real-IP", "Forwarded")


def is_local_client() -> bool:
    """Tell whether the client is this machine: a loopback peer that no proxy forwarded.

    A reverse proxy on the same host (nginx) connects from 127.0.0.1 for everyone, but says
    so in its forwarding headers.
    """
    if any(name in request.headers for name in FORWARDED):
        return False
    return is_loopback(request.remote_addr)


def require_api_key() -> None:
    """Refuse the request with 401 unless it carries a valid key (or is local and keyless)."""
    settings = get_settings()
    keys = settings.api_keys
    if not keys:
        if not is_local_client():
            raise ApiError(401, NO_KEYS_MESSAGE, code="invalid_api_key")
        return
    given = presented_key()
    if given is None:
        raise ApiError(401, "Missing API key: send 'Authorization: Bearer <key>' or"
                       " 'x-api-key: <key>'.", code="invalid_api_key")
    refuse_if_locked("api")
    entry = matching_key(given, settings.keys)
    if entry is None:
        count_failure("api", "API key", given)
        raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
    current_record().key = entry.name
