"""The operator's status page at /admin/: sign-in, then the instances, the Lingma login, requests.

The page is rendered here; its numbers come from the admin JSON API (ops/admin.py), which the
page's script polls with the session cookie and the `X-CSRF-Token` header. Sign-in takes
LINGMA_ADMIN_KEY (a client that keeps guessing is locked out for a while: web/backoff.py);
with no admin key set, the page signs in this machine's browsers by itself and tells everyone
else that admin is local-only. Sessions end on sign-out and when the key changes
(ops/admin_session.py).
"""

from __future__ import annotations

import logging

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for

from ..extension import get_pool
from ..extension import get_settings
from ..lingma.login import SharedLogin
from ..web import backoff
from ..web.auth import key_matches
from ..web.guard import is_local_request
from . import admin_session
from . import csrf
from . import usage
from . import workers
from .admin_session import init_admin_sessions
from .cookie import init_session_cookie
from .login_state import login_state
from .login_state import login_status
from .qr import is_login_url
from .qr import qr_svg
from .secret import init_secret_key

# the page's CSS and script are served under /admin/static/, so that everything of the page
# lives under /admin (one prefix to route, and left out of the recent-requests list)
bp = Blueprint("page", __name__, url_prefix="/admin", static_folder="../static/admin",
               static_url_path="/static")

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        " connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # the login link leaves for aliyun.com, which need not learn the gateway's address; not
    # no-referrer: then Chrome sends `Origin: null` with the page's own forms (refused by guard)
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def init_app(app: Flask) -> None:
    """Give the app its session key and cookie flags, and register the page."""
    init_secret_key(app)
    init_session_cookie(app)
    init_admin_sessions(app)
    app.register_blueprint(bp)


@bp.after_request
def add_security_headers(response: Response) -> Response:
    """Forbid framing, foreign scripts and caching of the page and its QR codes."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def keyless() -> bool:
    """Tell whether no LINGMA_ADMIN_KEY is set (then admin is for loopback clients only)."""
    return get_settings().admin_key is None


def admin_allowed() -> bool:
    """Tell whether this browser may use the page: signed in, or local with no admin key."""
    if keyless():
        return is_local_request()
    return admin_session.signed_in()


@bp.get("/")
def show_page():
    """Show the status page, the sign-in form, or why admin is local-only."""
    if keyless() and not is_local_request():
        return local_only()
    if not admin_allowed():
        return signin_form()
    if not admin_session.signed_in():
        admin_session.start()  # this machine, no admin key: signed in automatically
    return render_template("admin/page.html", csrf_token=csrf.issue_token(),
                           keyless=keyless(), **pool_view(), **usage.page_view(request.args))


def pool_view() -> dict:
    """Return every worker's state for the page's first paint (the script refreshes it)."""
    pool = get_pool()
    states = workers.worker_states(current_app)
    instances = workers.all_instances(states)
    here = [i for i in instances if not i.get("remote")]   # the login is this host's
    login = login_state(SharedLogin(pool.settings.login_root()), here)
    return {"instances": instances, "ready": all(s["ready"] for s in workers.live(states)),
            "simulator": bool(pool.using_simulator), "account": login["account"],
            "logged_in": login["state"] == "logged_in", "attached": pool.health().get("attached"),
            "shared_login": login_status(current_app)}


def signin_form(error: str | None = None, status: int = 200, headers: dict | None = None):
    """Render the sign-in form with the session's CSRF token (an ended session is dropped)."""
    if session.get("admin") is not None:
        session.clear()
    html = render_template("admin/signin.html", csrf_token=csrf.issue_token(), error=error)
    return html, status, headers or {}


def local_only():
    """Render the page that says admin needs LINGMA_ADMIN_KEY off this machine."""
    return render_template("admin/message.html", title="Admin is local-only", message=(
        "No LINGMA_ADMIN_KEY is set on this gateway, so its admin page answers only browsers"
        " on the gateway's own machine. Set LINGMA_ADMIN_KEY to sign in from elsewhere.")), 403


@bp.post("/login")
def sign_in():
    """Sign the browser in when the form carries the admin key and its CSRF token."""
    admin_key = get_settings().admin_key
    if admin_key is None:
        return redirect(url_for(".show_page"), 303)
    if not csrf.token_matches(request.form.get(csrf.FIELD)):
        return signin_form("This form has expired. Please sign in again.", 400)
    locked = backoff.locked_for("admin")
    if locked:
        return signin_form(backoff.lockout_message(locked), 429, {"Retry-After": str(locked)})
    if not key_matches(request.form.get("key", ""), (admin_key,)):
        backoff.count_failure("admin", "Admin sign-in", request.form.get("key", ""))
        return signin_form("Wrong admin key.", 401)
    admin_session.start()
    log.info("Admin signed in from %s", request.remote_addr)
    return redirect(url_for(".show_page"), 303)


@bp.post("/logout")
def sign_out():
    """End the admin sessions, this browser's and all others (the form needs its CSRF token)."""
    if not csrf.token_matches(request.form.get(csrf.FIELD)):
        return render_template("admin/message.html", title="Not signed out", message=(
            "The sign-out form expired. Reload the page and try again.")), 403
    admin_session.end_all()
    return redirect(url_for(".show_page"), 303)


@bp.get("/qr")
def show_login_qr():
    """Return a QR code (SVG) of a Lingma login link on an aliyun.com host."""
    if not admin_allowed():
        return Response("Sign in first.\n", 401, mimetype="text/plain")
    url = request.args.get("data", "")
    if not is_login_url(url):
        return Response("Only https links on aliyun.com hosts are encoded.\n", 400,
                        mimetype="text/plain")
    return Response(qr_svg(url), mimetype="image/svg+xml")
