"""GET /v1/models and /v1/models/<id>: Lingma's live model registry plus configured aliases.

A model is named by its Lingma key, its display name (case-insensitive) or an alias from
LINGMA_MODEL_ALIASES; the list shows keys and aliases.
"""

from __future__ import annotations

import time

from flask import Blueprint

from ..extension import get_pool
from ..extension import get_settings
from ..pipeline.targets import find_model
from ..pipeline.targets import model_not_found
from ..web.auth import require_api_key

# Lingma gives no creation dates; one fixed timestamp per process keeps the shape valid
CREATED = int(time.time())

bp = Blueprint("models", __name__)
bp.before_request(require_api_key)


def model_object(model_id: str) -> dict:
    """Return one OpenAI model object."""
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": "lingma"}


@bp.get("/v1/models")
@bp.get("/models")
def list_models():
    """List Lingma's models by key, then the aliases that point at one of them."""
    models = get_pool().models()
    ids = [m.key for m in models]
    aliases = [a for a, t in get_settings().model_aliases.items()
               if a not in ids and find_model(t, models) is not None]
    return {"object": "list", "data": [model_object(i) for i in ids + aliases]}


@bp.get("/v1/models/<path:model_id>")
@bp.get("/models/<path:model_id>")
def retrieve_model(model_id: str):
    """Show one model, named by key, display name or alias."""
    if find_model(model_id, get_pool().models(), get_settings().model_aliases) is None:
        raise model_not_found(model_id)
    return model_object(model_id)
