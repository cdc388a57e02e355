"""The status page's session cookie: named per gateway, HttpOnly, SameSite=Strict, Secure on https.

Flask's SESSION_COOKIE_SECURE is fixed per app, but one gateway may be reached over plain
http on 127.0.0.1 and over https through nginx (gunicorn trusts the local proxy's
X-Forwarded-Proto), so the Secure flag follows each request's scheme.

Cookies are kept per host name, not per port: gateways on several servers, each reached
through an SSH tunnel to another port of 127.0.0.1, would overwrite each other's one
`session` cookie. So the cookie's name carries a short hash of the gateway (its machine, its
work dir and its session secret), the same in all of its workers.
"""

from __future__ import annotations

import hashlib
import hmac
import socket

from flask import Flask
from flask import request
from flask.sessions import SecureCookieSessionInterface

from ..lingma.settings import CoreSettings

COOKIE_PREFIX = "lingma_admin_"
ADMIN = "/admin"  # the page and the admin API: the only paths with a session


class SchemeSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, marked Secure whenever the request came over https, and
    opened only under /admin: the API never reads a session, and opening one (a signing
    serializer and the cookie's parse) costs every chat request (docs/benchmarks.md)."""

    def open_session(self, app: Flask, request):
        """The admin's session from its cookie; a null session anywhere else."""
        if request.path == ADMIN or request.path.startswith(ADMIN + "/"):
            return super().open_session(app, request)
        return self.make_null_session(app)

    def get_cookie_secure(self, app: Flask) -> bool:
        """Mark the cookie Secure when configured so or when this request is https."""
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def cookie_name(app: Flask) -> str:
    """Name the session cookie after this gateway (needs the app's secret key)."""
    root = CoreSettings.from_mapping(app.config).work_root().expanduser().absolute()
    gateway = f"{socket.gethostname()}\0{root}".encode()
    digest = hmac.new(str(app.secret_key).encode(), gateway, hashlib.sha256).hexdigest()
    return COOKIE_PREFIX + digest[:10]


def init_session_cookie(app: Flask) -> None:
    """Name the session cookie for this gateway and harden its flags."""
    app.config["SESSION_COOKIE_NAME"] = cookie_name(app)
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    app.session_interface = SchemeSessionInterface()
