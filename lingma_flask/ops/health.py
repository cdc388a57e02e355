"""GET /health (liveness) and GET /ready (readiness): open to everyone, nothing secret in them.

`/health` says the worker serves, and whether Lingma is the built-in simulator. `/ready` is
what load balancers and PaaS health checks call: 200 when at least one Lingma instance is
ready, connected and logged in; else 503 with a reason code per instance. Details (accounts,
pids, ports, work dirs, errors) are behind the admin key: `/admin/api/health`. In attach mode
(LINGMA_ATTACH) both also say `"lingma": "attached"` and the endpoint in use, and an attached
instance that is not ready says why (e.g. where `auto` looked for a desktop).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint

from ..extension import get_pool

bp = Blueprint("health", __name__)
MESSAGE_CHARS = 2000


@bp.get("/health")
def show_health():
    """Report that the worker serves (and, attached, to which Lingma)."""
    pool = get_pool()
    return {"status": "ok", "simulator": bool(pool.using_simulator), **lingma_mode(pool.health())}


@bp.get("/ready")
def show_readiness():
    """Report whether a logged-in Lingma is ready: 200, else 503 with a reason per instance."""
    health = get_pool().health()
    attached = health.get("attached") is not None
    instances = [{"name": i.get("name"), "reason": reason(i)} for i in health.get("instances", [])]
    if attached:   # what attach mode looked for (its own words: no token, the home folder as ~)
        for view, instance in zip(instances, health.get("instances", []), strict=True):
            if view["reason"] != "ready" and instance.get("last_error"):
                view["message"] = str(instance["last_error"]).replace(str(Path.home()), "~")[:MESSAGE_CHARS]
    ready = bool(health.get("ready"))
    return {"ready": ready, **lingma_mode(health), "instances": instances}, 200 if ready else 503


def lingma_mode(health: dict) -> dict:
    """Attach mode: `"lingma": "attached"`, the endpoint in use and the setting asked for; else nothing."""
    attached = health.get("attached")
    if not attached:
        return {}
    return {"lingma": "attached", "endpoint": attached.get("endpoint"), "attach": attached.get("setting")}


def reason(instance: dict) -> str:
    """Return one instance's readiness code: ready, not_logged_in, starting, failed, ..."""
    state = instance.get("state") or "unknown"
    if state == "ready":
        return "ready" if instance.get("logged_in", True) else "not_logged_in"
    return state
