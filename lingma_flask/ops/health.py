"""GET /health (liveness) and GET /ready (readiness): open to everyone, nothing secret in them.

`/health` says the worker serves, and whether Lingma is the built-in simulator. `/ready` is
what load balancers and PaaS health checks call: 200 when at least one Lingma instance is
ready, connected and logged in; else 503 with a reason code per instance. Details (accounts,
pids, ports, work dirs, errors) are behind the admin key: `/admin/api/health`.
"""

from __future__ import annotations

from flask import Blueprint

from ..extension import get_pool

bp = Blueprint("health", __name__)


@bp.get("/health")
def show_health():
    """Report that the worker serves."""
    return {"status": "ok", "simulator": bool(get_pool().using_simulator)}


@bp.get("/ready")
def show_readiness():
    """Report whether a logged-in Lingma is ready: 200, else 503 with a reason per instance."""
    health = get_pool().health()
    instances = [{"name": i.get("name"), "reason": reason(i)} for i in health.get("instances", [])]
    ready = bool(health.get("ready"))
    return {"ready": ready, "instances": instances}, 200 if ready else 503


def reason(instance: dict) -> str:
    """Return one instance's readiness code: ready, not_logged_in, starting, failed, ..."""
    state = instance.get("state") or "unknown"
    if state == "ready":
        return "ready" if instance.get("logged_in", True) else "not_logged_in"
    return state
