"""Deliver a pasted Lingma login callback to Lingma's own loopback HTTP port, and nothing else.

After the Aliyun login the browser is sent to `http://127.0.0.1:<httpPort>/…` (protocol 3.6).
On a server the browser runs elsewhere and that address loads nothing, so the operator pastes
it into the status page. It is delivered only if it is a callback for the login in progress:
plain http, a loopback host, the port of the instance that started the login, the path that
login expects (its `redirect_uri`, when the login URL names one), and the login's `state`.
The request goes to 127.0.0.1 on that port, no proxy, no redirects followed: the paste can
never make the gateway fetch anything else.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from ..web.errors import ApiError

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")
TIMEOUT = 10.0


def expected_callback(login_url: str, http_port: int | None) -> dict:
    """What a callback for this login must look like: port, path (or None: any), state."""
    query = parse_qs(urlsplit(login_url).query)
    redirect = (query.get("redirect_uri") or [""])[0]
    path = urlsplit(redirect).path if redirect else None
    port = urlsplit(redirect).port if redirect else None
    states = query.get("state")
    state = states[0] if states else None
    return {"port": port or http_port, "path": path, "state": state}


def refuse(reason: str) -> ApiError:
    """Build the 400 for a pasted address that is not this login's callback."""
    return ApiError(400, f"That address is not this login's callback: {reason}.",
                    param="url", code="invalid_callback")


def check_callback(url: str, expected: dict) -> str:
    """Return the path and query to request on the instance's port, or raise a 400."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise refuse("it is not a URL") from None
    if parts.scheme != "http" or (parts.hostname or "") not in LOOPBACK:
        raise refuse("it must start with http://127.0.0.1:<port>/")
    if port is None or port != expected["port"]:
        raise refuse(f"it must be on port {expected['port']} (the Lingma that started the login)")
    if expected["path"] is not None and parts.path != expected["path"]:
        raise refuse(f"its path must be {expected['path']}")
    if ".." in parts.path or parts.username or parts.password or parts.fragment:
        raise refuse("it carries parts a callback never has")
    states = parse_qs(parts.query).get("state")
    if expected["state"] is not None and states != [expected["state"]]:
        raise refuse("its state does not match the login in progress (start a new login?)")
    return parts.path + (f"?{parts.query}" if parts.query else "")


def deliver(url: str, expected: dict) -> int:
    """Check a pasted callback and GET it from Lingma's port; return Lingma's HTTP status."""
    import requests  # here, not at the top: only a pasted login needs it (5 MB per worker)

    target = check_callback(url, expected)
    session = requests.Session()
    session.trust_env = False  # never through a proxy
    try:
        resp = session.get(f"http://127.0.0.1:{expected['port']}{target}", timeout=TIMEOUT,
                           allow_redirects=False)
    except requests.RequestException as exc:
        raise ApiError(502, f"Lingma's login callback did not answer: {exc.__class__.__name__}.",
                       code="callback_failed") from None
    finally:
        session.close()
    log.info("delivered a pasted login callback to port %s: HTTP %s", expected["port"], resp.status_code)
    return resp.status_code
