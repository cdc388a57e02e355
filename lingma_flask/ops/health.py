"""GET /health: is Lingma ready, and is it the built-in simulator? Open to everyone."""

from __future__ import annotations

from flask import Blueprint

from ..extension import get_pool

bp = Blueprint("health", __name__)


@bp.get("/health")
def show_health():
    """Report the pool's health: 200 when ready, 503 when not."""
    pool = get_pool()
    health = dict(pool.health())
    health["simulator"] = bool(pool.using_simulator)
    return health, 200 if health.get("ready") else 503
