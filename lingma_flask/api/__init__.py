"""The faces: OpenAI chat completions, Responses, legacy completions and models, and
Anthropic Messages, each a blueprint over the one pipeline (`lingma_flask.pipeline`).

Talks to Lingma only through the pipeline's Job and the pool (see docs/architecture.md).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the faces' blueprints."""
    from . import anthropic
    from . import chat
    from . import completions
    from . import conversations
    from . import models
    from . import responses
    from . import responses_tokens
    from . import responses_ws

    app.register_blueprint(chat.bp)
    app.register_blueprint(completions.bp)
    app.register_blueprint(conversations.bp)
    app.register_blueprint(anthropic.bp)
    app.register_blueprint(models.bp)
    app.register_blueprint(responses.bp)
    app.register_blueprint(responses_tokens.bp)
    app.register_blueprint(responses_ws.bp)
