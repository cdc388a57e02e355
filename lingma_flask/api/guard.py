"""Who may call from a browser: Host and Origin checks, and CORS for the allowed origins.

Any web page the user opens can send requests to a gateway on 127.0.0.1 (a `text/plain`
POST needs no CORS preflight), and DNS rebinding gives a page a same-origin view of it. So:

* without API keys, only loopback `Host` names are served (`localhost`, `*.localhost`,
  `127.0.0.1`, `[::1]`, any port): a rebound name is refused;
* a request whose `Origin` is neither the gateway itself nor in `LINGMA_CORS_ORIGINS`
  (default: none) is refused, whatever its content type; browsers send `Origin` on every
  cross-origin POST, so no content type needs to be required of non-browser clients
  (curl's `-d` sends a form type);
* preflights from allowed origins are answered, and their responses carry CORS headers.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from flask import Flask
from flask import request

from ..extension import get_settings
from .errors import ApiError

ALLOW_HEADERS = ("authorization, content-type, x-api-key, anthropic-version, anthropic-beta,"
                 " x-request-id, idempotency-key, openai-organization, openai-project,"
                 " x-stainless-arch, x-stainless-lang, x-stainless-os, x-stainless-package-version,"
                 " x-stainless-retry-count, x-stainless-runtime, x-stainless-runtime-version,"
                 " x-stainless-timeout")
EXPOSE_HEADERS = "x-request-id, retry-after, x-lingma-usage, x-lingma-model, x-should-retry"


def is_loopback_host(host: str) -> bool:
    """Tell whether a Host header names this machine's loopback (any port)."""
    name = urlsplit("//" + host).hostname or ""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def origin_allowed(origin: str) -> bool:
    """Tell whether requests from `origin` may be served (the gateway itself always may)."""
    allowed = get_settings().cors_origins
    same = origin.rstrip("/").lower() == request.host_url.rstrip("/").lower()
    return same or "*" in allowed or origin.rstrip("/") in allowed


def check_request():
    """Refuse foreign Hosts (keyless) and Origins; answer allowed CORS preflights."""
    if not get_settings().api_keys and not is_loopback_host(request.host):
        raise ApiError(403, "This gateway has no API keys, so it answers only requests to a"
                       " loopback host name (DNS-rebinding defence); set LINGMA_API_KEYS to"
                       " serve other names.", code="host_not_allowed")
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    if not origin_allowed(origin):
        raise ApiError(403, f"Requests from the web origin {origin[:100]!r} are not allowed;"
                       " add it to LINGMA_CORS_ORIGINS.", code="origin_not_allowed")
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        return "", 204, preflight_headers(origin)
    return None


def preflight_headers(origin: str) -> dict[str, str]:
    """Headers of an allowed preflight's answer."""
    return {**cors_headers(origin), "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": ALLOW_HEADERS, "Access-Control-Max-Age": "600"}


def cors_headers(origin: str) -> dict[str, str]:
    """Headers that let an allowed origin read a response."""
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
            "Access-Control-Expose-Headers": EXPOSE_HEADERS}


def add_cors(response):
    """Add CORS headers to the answer of an allowed cross-origin request."""
    origin = request.headers.get("Origin")
    if origin and origin_allowed(origin):
        response.headers.update(cors_headers(origin))
    return response


def init_app(app: Flask) -> None:
    """Check every request first; mark allowed cross-origin answers."""
    app.before_request_funcs.setdefault(None, []).insert(0, check_request)
    app.after_request(add_cors)
