"""HTTP plumbing every face shares: keys, origin and host guards, bodies, writes, errors, SSE.

Nothing here knows a face: `api/` and `ops/` build on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # gunicorn's master imports web.gunicorn_worker: no Flask there
    from flask import Flask


def init_app(app: Flask) -> None:
    """Register the error handlers, the request log hooks, the guards, the write guard and the
    key limits."""
    from . import connection
    from . import errors
    from . import guard
    from . import limits
    from . import requestlog

    errors.init_app(app)
    requestlog.init_app(app)
    limits.init_app(app)  # this worker's key ledger; each key's weight in the pool's queue
    guard.init_app(app)
    connection.init_app(app)  # every response body is written under the write guard
