"""GET /metrics: the Prometheus text exposition, behind LINGMA_METRICS_KEY when it is set.

With no key configured the endpoint is open, like /health: bind to loopback or keep it
behind your proxy then. The 401 is the OpenAI error envelope (web/envelope.py).
"""

from __future__ import annotations

import hmac

from flask import Blueprint
from flask import Response
from flask import request
from prometheus_client import CONTENT_TYPE_LATEST

from ..extension import get_pool
from ..extension import get_settings
from ..web import envelope
from . import metrics

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def show_metrics():
    """Expose every worker's metrics (this worker's instance states refreshed first)."""
    key = get_settings().metrics_key
    if key and not bearer_matches(key):
        return refusal()
    metrics.observe_instances(get_pool().health().get("instances", []))
    return Response(metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def bearer_matches(key: str) -> bool:
    """Tell whether the request carries `Authorization: Bearer <key>` (constant-time compare)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())


def refusal():
    """Return the 401 for a missing or wrong metrics key."""
    body = envelope.openai_error("Missing or incorrect metrics key: send 'Authorization: Bearer"
                                 " <LINGMA_METRICS_KEY>'.", "invalid_request_error",
                                 code="invalid_api_key")
    return body, 401, {"WWW-Authenticate": "Bearer"}
