"""HTTP plumbing every face shares: keys, origin and host guards, bodies, writes, errors, SSE.

Nothing here knows a face: `api/` and `ops/` build on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # gunicorn's master imports web.gunicorn_worker: no Flask there
    from flask import Flask


def init_app(app: Flask) -> None:
    """Register the error handlers, the request log hooks, the guards and the write guard."""
    from . import connection
    from . import errors
    from . import guard
    from . import identity
    from . import requestlog

    errors.init_app(app)
    requestlog.init_app(app)
    app.after_request(identity.name_key_in_log)
    guard.init_app(app)
    connection.init_app(app)  # every response body is written under the write guard
