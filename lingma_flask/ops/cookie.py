"""The session cookie of the status page: HttpOnly, SameSite=Strict, Secure over https.

Flask's SESSION_COOKIE_SECURE is fixed per app, but one gateway may be reached over plain
http on 127.0.0.1 and over https through nginx (gunicorn trusts the local proxy's
X-Forwarded-Proto), so the Secure flag follows each request's scheme.
"""

from __future__ import annotations

from flask import Flask
from flask import request
from flask.sessions import SecureCookieSessionInterface


class SchemeSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, marked Secure whenever the request came over https."""

    def get_cookie_secure(self, app: Flask) -> bool:
        """Mark the cookie Secure when configured so or when this request is https."""
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def init_session_cookie(app: Flask) -> None:
    """Harden the session cookie's flags."""
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    app.session_interface = SchemeSessionInterface()
