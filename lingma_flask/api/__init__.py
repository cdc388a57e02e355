"""The OpenAI face: blueprints, validation, prompt rendering, SSE, errors and auth.

Talks to Lingma only through LingmaPool and ChatStream (see docs/architecture.md).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the API's error handlers, request log hooks and blueprints."""
    from . import anthropic
    from . import chat
    from . import completions
    from . import connection
    from . import errors
    from . import guard
    from . import models
    from . import requestlog
    from . import responses

    errors.init_app(app)
    requestlog.init_app(app)
    guard.init_app(app)
    app.register_blueprint(chat.bp)
    app.register_blueprint(completions.bp)
    app.register_blueprint(anthropic.bp)
    app.register_blueprint(models.bp)
    app.register_blueprint(responses.bp)
    connection.init_app(app)  # every response body is written under the write guard
