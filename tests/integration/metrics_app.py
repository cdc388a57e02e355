"""The gateway app plus test-only routes that record metrics in whichever worker serves them.

Until the request path calls the recording functions itself, these routes let a test drive
them inside each gunicorn worker; each answers with its worker's pid.
"""

import os

from flask import Blueprint

from lingma_flask import create_app
from lingma_flask.ops import metrics

bp = Blueprint("metrics_test", __name__)


@bp.post("/test/observe")
def observe():
    """Record one answered request in this worker."""
    metrics.observe_request("/test/observe", 200, "auto", 0.01, first_token_s=0.005, tokens_in=3, tokens_out=5)
    return {"pid": os.getpid()}


@bp.post("/test/stream-open")
def open_stream():
    """Count one stream as open in this worker (and never close it)."""
    metrics.stream_opened()
    return {"pid": os.getpid()}


app = create_app()
app.register_blueprint(bp)
