"""Who may call from a browser: Host and Origin checks, and CORS for the allowed origins.

Any web page the user opens can send requests to a gateway on 127.0.0.1 (a `text/plain`
POST needs no CORS preflight), and DNS rebinding gives a page a same-origin view of it. So:

* only loopback `Host` names are served (`localhost`, `*.localhost`, `127.0.0.1`, `[::1]`,
  any port) without API keys, and on /admin without an admin key whatever the API keys:
  a rebound name is refused;
* a request whose `Origin` is not the gateway itself is refused, whatever its content type,
  unless it goes to the API (the /v1 routes and their unprefixed aliases) from an origin in
  `LINGMA_CORS_ORIGINS` (default: none); browsers send `Origin` on every cross-origin POST,
  so no content type needs to be required of non-browser clients (curl's `-d` sends a form
  type);
* the API answers preflights from allowed origins, and its responses to them carry CORS
  headers; the admin page and API never do.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from flask import Flask
from flask import current_app
from flask import request

from ..extension import current_request
from ..extension import get_settings
from .auth import is_local_client
from .errors import ApiError

FACES_PACKAGE = "lingma_flask.api"   # named, not imported: the web layer knows no face
ALLOW_HEADERS = ("authorization, content-type, x-api-key, anthropic-version, anthropic-beta,"
                 " x-request-id, idempotency-key, openai-organization, openai-project,"
                 " x-stainless-arch, x-stainless-lang, x-stainless-os, x-stainless-package-version,"
                 " x-stainless-retry-count, x-stainless-runtime, x-stainless-runtime-version,"
                 " x-stainless-timeout")
PLAIN_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?")
EXPOSE_HEADERS = "x-request-id, retry-after, x-lingma-usage, x-lingma-model, x-should-retry"


def is_loopback_host(host: str) -> bool:
    """Tell whether a Host header names this machine's loopback (any port)."""
    if not PLAIN_HOST.fullmatch(host):
        return False  # userinfo, a path, spaces: nothing a browser sends as Host
    name = urlsplit("//" + host).hostname or ""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_admin_path() -> bool:
    """Tell whether the request is for the admin page or API (anything under /admin)."""
    path = current_request().path
    return path == "/admin" or path.startswith("/admin/")


def serves_api() -> bool:
    """Tell whether the request goes to the API: a route of the faces' package, or under /v1/."""
    blueprint = current_app.blueprints.get(request.blueprint or "")
    if blueprint is not None:
        return blueprint.import_name.startswith(FACES_PACKAGE + ".")
    return request.url_rule is None and request.path.startswith("/v1/")


def is_same_origin(origin: str) -> bool:
    """Tell whether `origin` is the gateway itself (as the request's Host names it)."""
    return origin.rstrip("/").lower() == request.host_url.rstrip("/").lower()


def origin_allowed(origin: str) -> bool:
    """Tell whether requests from `origin` may be served: the gateway itself, or CORS."""
    return is_same_origin(origin) or (serves_api() and cors_allowed(origin))


def cors_allowed(origin: str) -> bool:
    """Tell whether LINGMA_CORS_ORIGINS lets `origin` call the API."""
    allowed = get_settings().cors_origins
    return "*" in allowed or origin.rstrip("/") in allowed


def needs_loopback_host() -> bool:
    """Tell whether only loopback Host names may be served: keyless API, or keyless admin."""
    settings = get_settings()
    return not settings.api_keys or (is_admin_path() and settings.admin_key is None)


def is_local_request() -> bool:
    """Tell whether the request is this machine's: a loopback client, to a loopback name."""
    return is_local_client() and is_loopback_host(request.host)


def check_request():
    """Refuse foreign Hosts (keyless) and Origins; answer the API's allowed CORS preflights."""
    req = current_request()
    if needs_loopback_host() and not is_loopback_host(req.host):
        raise ApiError(403, host_refusal(), code="host_not_allowed")
    origin = req.headers.get("Origin")
    if origin is None:
        return None
    if not origin_allowed(origin):
        raise ApiError(403, origin_refusal(origin), code="origin_not_allowed")
    if (serves_api() and req.method == "OPTIONS"
            and "Access-Control-Request-Method" in req.headers):
        return "", 204, preflight_headers(origin)
    return None


def host_refusal() -> str:
    """Say why a non-loopback Host name is refused, and what would serve it."""
    if is_admin_path() and get_settings().admin_key is None:
        return ("This gateway has no LINGMA_ADMIN_KEY, so its admin page and API answer only"
                " requests to a loopback host name (DNS-rebinding defence); set"
                " LINGMA_ADMIN_KEY to serve other names.")
    return ("This gateway has no API keys, so it answers only requests to a loopback host name"
            " (DNS-rebinding defence); set LINGMA_API_KEYS to serve other names.")


def origin_refusal(origin: str) -> str:
    """Say why requests from the web origin `origin` are refused."""
    if serves_api():
        return (f"Requests from the web origin {origin[:100]!r} are not allowed; add it to"
                " LINGMA_CORS_ORIGINS.")
    return (f"Requests from the web origin {origin[:100]!r} are not allowed: only the API"
            " (/v1/...) takes cross-origin requests, from LINGMA_CORS_ORIGINS.")


def preflight_headers(origin: str) -> dict[str, str]:
    """Headers of an allowed preflight's answer."""
    return {**cors_headers(origin), "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": ALLOW_HEADERS, "Access-Control-Max-Age": "600"}


def cors_headers(origin: str) -> dict[str, str]:
    """Headers that let an allowed origin read a response."""
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
            "Access-Control-Expose-Headers": EXPOSE_HEADERS}


def add_cors(response):
    """Add CORS headers to the API's answer of an allowed cross-origin request."""
    origin = current_request().headers.get("Origin")
    if origin and serves_api() and origin_allowed(origin):
        response.headers.update(cors_headers(origin))
    return response


def init_app(app: Flask) -> None:
    """Check every request first; mark allowed cross-origin answers."""
    app.before_request_funcs.setdefault(None, []).insert(0, check_request)
    app.after_request(add_cors)
