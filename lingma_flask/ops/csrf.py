"""CSRF tokens of the admin session: one random token per session, compared in constant time.

Forms post it as the `csrf` field; the page's fetches send it as the `X-CSRF-Token` header.
"""

from __future__ import annotations

import hmac
import secrets

from flask import session

HEADER = "X-CSRF-Token"
FIELD = "csrf"


def issue_token() -> str:
    """Return the session's CSRF token, creating one if the session has none."""
    if not isinstance(session.get("csrf"), str):
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def rotate_token() -> str:
    """Give the session a fresh CSRF token and return it."""
    session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def token_matches(given: str | None) -> bool:
    """Tell whether `given` equals the session's CSRF token (constant time)."""
    expected = session.get("csrf")
    if not isinstance(expected, str) or not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
