"""The operator's API under /admin/api/: instances, restarts, the Lingma login, the endpoint.

Guarded by LINGMA_ADMIN_KEY: `Authorization: Bearer <key>` (constant-time compare; a client
that keeps guessing is locked out for a while), or the status page's admin session (then
unsafe methods need its `X-CSRF-Token`); with no admin key set, this machine's clients only,
to a loopback host name. The contract is in docs/operations.md.
"""

from __future__ import annotations

import os
import time

from flask import Blueprint
from flask import current_app
from flask import request

from ..extension import get_pool
from ..extension import get_settings
from ..lingma.errors import LingmaNotReadyError
from ..lingma.login import SharedLogin
from ..web import backoff
from ..web.auth import key_matches
from ..web.errors import ApiError
from ..web.guard import is_local_request
from . import admin_session
from . import callback
from . import csrf
from . import workers
from .login_state import login_state
from .login_state import login_status
from .runtime import runtime_counts

bp = Blueprint("admin", __name__, url_prefix="/admin/api")

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
HEADLESS_HINT = (
    "After the Aliyun login your browser is sent to http://127.0.0.1:{port}/…, Lingma's own "
    "callback on the gateway's machine. If the browser runs elsewhere that page will not load: "
    "copy its address from the address bar and paste it here, or forward the port first with "
    "ssh -L {port}:127.0.0.1:{port} <server>.")


@bp.before_request
def require_admin() -> None:
    """Let in the admin key, an admin session (with its CSRF token), or keyless local clients."""
    admin_key = get_settings().admin_key
    if admin_key is None and not is_local_request():
        raise ApiError(401, "No LINGMA_ADMIN_KEY is set, so the admin API answers local"
                       " clients only.", code="invalid_admin_key")
    token = bearer_token()
    if admin_key is not None and token is not None:
        check_bearer(token, admin_key)
        return
    if admin_session.signed_in():
        if request.method in UNSAFE and not csrf.token_matches(request.headers.get(csrf.HEADER)):
            raise ApiError(403, "This action needs the page's CSRF token (X-CSRF-Token).",
                           code="csrf_failed")
        return
    if admin_key is not None:
        raise ApiError(401, "The admin API needs 'Authorization: Bearer <LINGMA_ADMIN_KEY>'.",
                       code="invalid_admin_key")


def bearer_token() -> str | None:
    """Return the request's `Authorization: Bearer` credential, if it has one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def check_bearer(token: str, admin_key: str) -> None:
    """Accept the right admin key; refuse (and count) a wrong one, or a locked-out client."""
    backoff.refuse_if_locked("admin")
    if not key_matches(token, (admin_key,)):
        backoff.count_failure("admin", "Admin API key (Bearer)", token)
        raise ApiError(401, "Incorrect admin key: send 'Authorization: Bearer"
                       " <LINGMA_ADMIN_KEY>'.", code="invalid_admin_key")


@bp.get("/health")
def show_pool_health():
    """Show every instance in detail: state, pid, ports, work dir, login, errors.

    A local client asking `?runtime=1` also gets the worker's `runtime` counts (threads,
    live greenlets), which walk the heap: the soak's leak check, not a polling target.
    """
    health = dict(get_pool().health())
    health["simulator"] = bool(get_pool().using_simulator)
    if request.args.get("runtime") == "1" and is_local_request():
        health["runtime"] = runtime_counts()
    return health


@bp.get("/instances")
def list_instances():
    """List every worker's instances: state, process, login (display name only), load, latency.

    Each carries its worker's index, pid and host (`remote` on another host, `stale` when its
    worker has not been heard from lately); `ready` means every live worker can take chats.
    """
    states = workers.worker_states(current_app)
    instances = [{**i, "socket_port": i.get("port")} for i in workers.all_instances(states)]
    return {"ready": all(s["ready"] for s in workers.live(states)), "simulator": bool(get_pool().using_simulator),
            "instances": instances,
            "answered_by": {"index": workers.own_index(current_app), "pid": os.getpid(),
                            "host": workers.this_host(current_app)},
            "workers": [{"index": s["index"], "pid": s["pid"], "ready": s["ready"], "host": s.get("host"),
                         "remote": bool(s.get("remote")), "stale": bool(s.get("stale"))} for s in states]}


@bp.post("/instances/<name>/restart")
def restart_instance(name: str):
    """Restart one instance's Lingma (a new process): that of worker `{"worker": k}` if given.

    Another worker's instance is restarted by that worker within a second; the answer says
    which worker (index and pid) restarts it.
    """
    worker = worker_index(json_body().get("worker", request.args.get("worker")))
    host = json_body().get("host", request.args.get("host"))
    if host is not None and not isinstance(host, str):
        raise ApiError(400, "'host' must be a host name (a string).", param="host", code="invalid_value")
    if host not in (None, "") and host != workers.this_host(current_app):
        raise ApiError(409, f"Instance {name[:60]!r} runs on host {str(host)[:80]!r}: restart it from"
                       " that host's status page or admin API.", code="instance_on_another_host")
    answer = workers.restart(current_app, name, worker)
    if answer is None:
        where = "" if worker is None else f" on worker {worker}"
        raise ApiError(404, f"No instance called {name[:60]!r}{where}.", code="instance_not_found")
    return answer, 202


@bp.post("/login")
def start_login():
    """Start Lingma's login and return its URL (and how to finish it on a headless server)."""
    instance = ready_instance()
    url = instance.start_login()
    expected = callback.expected_callback(url, instance.http_port)
    shared_login().save_pending({"login_url": url, "instance": instance.name,
                                 "expected": expected, "started": time.time()})
    return {"state": "pending", "login_url": url, "instance": instance.name,
            "callback_port": expected["port"],
            "headless_hint": HEADLESS_HINT.format(port=expected["port"])}


@bp.get("/login")
def show_login():
    """Say whether this host's gateway is logged in, a login is pending, or neither
    (ops/login_state.py); with LINGMA_SHARE_LOGIN=db, `shared` says whether the login was taken
    from another host and whether this host's Lingma refused it."""
    answer = login_state(shared_login(), workers.all_instances(workers.host_states(current_app)))
    shared = login_status(current_app)
    return answer if shared is None else {**answer, "shared": shared}


@bp.post("/login/callback")
def deliver_callback():
    """Deliver a callback address pasted from the browser to the Lingma that started the login."""
    pending = shared_login().pending()
    if not pending:
        raise ApiError(400, "No Lingma login is in progress: start one first.", code="no_login")
    url = json_body().get("url")
    if not isinstance(url, str) or not url.strip():
        raise ApiError(400, "Send {\"url\": \"<the address from the browser>\"}.", param="url",
                       code="invalid_callback")
    status = callback.deliver(url, pending["expected"])
    for instance in get_pool().instances:
        instance.request_refresh()
    return {"delivered": True, "lingma_status": status}


@bp.post("/logout")
def logout():
    """Log Lingma out: this worker's instances now, the others through the shared login."""
    shared_login().mark_logged_out()
    for instance in get_pool().instances:
        if instance.ready and instance.logged_in:
            instance.logout()
    return {"state": "none"}


@bp.get("/endpoint")
def show_endpoint():
    """Show Lingma's cloud endpoint ("" is the official default)."""
    return {"endpoint": ready_instance().endpoint()}


@bp.post("/endpoint")
def change_endpoint():
    """Change Lingma's cloud endpoint on every ready instance of this worker."""
    endpoint = json_body().get("endpoint")
    if not isinstance(endpoint, str) or (endpoint and not endpoint.startswith("https://")):
        raise ApiError(400, "Send {\"endpoint\": \"https://…\"} (or \"\" for the default).",
                       param="endpoint", code="invalid_value")
    for instance in get_pool().instances:
        if instance.ready:
            instance.set_endpoint(endpoint)
    return {"endpoint": endpoint}


@bp.get("/requests")
def list_requests():
    """Show the last 100 API requests of all workers (and hosts, with the store), labelled by
    worker (never their text)."""
    return {"requests": workers.recent(current_app)}


def json_body() -> dict:
    """Return the request's JSON object; anything else (no JSON, an array) reads as `{}`."""
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def worker_index(value: object) -> int | None:
    """Read a worker index (an integer, or its digits in a string); None stays None."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 6:
        return int(value)
    raise ApiError(400, "\"worker\" is a worker's index (an integer).", param="worker",
                   code="invalid_value")


def shared_login() -> SharedLogin:
    """The gateway's shared login folder."""
    return SharedLogin(get_pool().settings.login_root())


def ready_instance():
    """Return a connected instance (logged in or not), or raise 503."""
    for instance in get_pool().instances:
        if instance.ready:
            return instance
    raise LingmaNotReadyError("no Lingma instance is connected yet", retry_after=5)
