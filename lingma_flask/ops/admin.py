"""The operator's API under /admin/api/, guarded by LINGMA_ADMIN_KEY.

`Authorization: Bearer <admin key>`, compared in constant time; with no admin key set, the
admin API answers loopback clients only.
"""

from __future__ import annotations

from flask import Blueprint
from flask import request

from ..api.auth import is_local_client
from ..api.auth import key_matches
from ..api.errors import ApiError
from ..extension import get_pool
from ..extension import get_settings

bp = Blueprint("admin", __name__, url_prefix="/admin/api")


@bp.before_request
def require_admin() -> None:
    """Refuse the request unless it carries the admin key (or is local when none is set)."""
    admin_key = get_settings().admin_key
    if admin_key is None:
        if not is_local_client():
            raise ApiError(401, "No LINGMA_ADMIN_KEY is set, so the admin API answers local"
                           " clients only.", code="invalid_admin_key")
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key_matches(token.strip(), (admin_key,)):
        raise ApiError(401, "The admin API needs 'Authorization: Bearer <LINGMA_ADMIN_KEY>'.",
                       code="invalid_admin_key")


@bp.get("/health")
def show_pool_health():
    """Show every instance in detail: state, pid, ports, work dir, login, errors."""
    health = dict(get_pool().health())
    health["simulator"] = bool(get_pool().using_simulator)
    return health
