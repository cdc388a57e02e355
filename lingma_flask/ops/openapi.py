"""GET /openapi.json: the gateway's contract, `docs/openapi.yaml`, served as JSON.

Open to everyone like /health: it holds no secret. The YAML is read and converted once per
process, on the first request, so a bad file shows in that answer (and in the tests), not at
start-up.
"""

from __future__ import annotations

import functools
from importlib.resources import files
from importlib.resources.abc import Traversable

from flask import Blueprint

SPEC = files("lingma_flask") / "openapi.yaml"   # docs/openapi.yaml, linked into the package

bp = Blueprint("openapi", __name__)


@functools.cache
def load_spec(path: Traversable = SPEC) -> dict:
    """Return the OpenAPI document at `path` (YAML anchors expanded), read once."""
    import yaml  # here, not at the top: read once per process, on the first request

    with path.open(encoding="utf-8") as spec:
        return yaml.safe_load(spec)


@bp.get("/openapi.json")
def show_openapi():
    """Serve the OpenAPI document."""
    return load_spec()
