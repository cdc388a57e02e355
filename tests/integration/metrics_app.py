"""The gateway app plus test-only routes that record metrics in whichever worker serves them.

Each answers with its worker's pid; the request path records them like any other request.
"""

import os

from flask import Blueprint

from lingma_flask import create_app
from lingma_flask.ops import metrics
from lingma_flask.web.requestlog import current_record

bp = Blueprint("metrics_test", __name__)


@bp.post("/test/observe")
def observe():
    """Answer like a chat of 3 tokens in and 5 out; the request line records it in this worker."""
    record = current_record()
    record.model, record.prompt_tokens, record.completion_tokens = "auto", 3, 5
    record.mark_first_token()
    return {"pid": os.getpid()}


@bp.post("/test/stream-open")
def open_stream():
    """Count one stream as open in this worker (and never close it)."""
    metrics.stream_opened()
    return {"pid": os.getpid()}


app = create_app()
app.register_blueprint(bp)
