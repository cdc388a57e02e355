"""lingma-flask: an OpenAI-compatible HTTP gateway in front of Tongyi Lingma.

Importing the package is cheap (Flask and the rest load inside `create_app`), so gunicorn's
master can use `lingma_flask.logs` and the simulator process never loads Flask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then .env and LINGMA_* variables, then `test_config`.

    The pool is registered but not started: gunicorn's post_worker_init starts it, after
    gevent patched the worker. Pass `LINGMA_POOL` in test_config to use another pool object.
    """
    from dotenv import find_dotenv
    from dotenv import load_dotenv
    from flask.json.provider import DefaultJSONProvider

    from . import config
    from . import extension
    from .logs import configure_logging
    from .logs import register_secrets
    from .ops import page
    from .web.flaskapp import GatewayFlask

    app = GatewayFlask(__name__, static_folder=None)
    app.config.from_mapping(config.DEFAULTS)
    # real environment variables win over the .env file
    dotenv_path = find_dotenv(usecwd=True)
    if dotenv_path:
        load_dotenv(dotenv_path, override=False)
    # values stay strings as given (no JSON parsing: a key "null" or "1e5" is a key); each
    # setting is cast explicitly where it is read
    app.config.from_prefixed_env("LINGMA", loads=str)
    if test_config is not None:
        app.config.from_mapping(test_config)
    if isinstance(app.json, DefaultJSONProvider):  # Flask's own provider, the one it builds by default
        app.json.sort_keys = False
    extension.init_app(app)
    app.config["MAX_CONTENT_LENGTH"] = app.extensions["lingma_api"].max_body_bytes
    api_settings = app.extensions["lingma_api"]
    configure_logging(api_settings.log_level, api_settings.log_format, config.secrets_of(api_settings))
    _register(app)
    _trust_proxies(app, api_settings.trusted_proxies)
    page.init_app(app)  # the status page at /admin/, its session key and cookie
    register_secrets([app.secret_key])
    return app


def _trust_proxies(app: Flask, hops: int) -> None:
    """Believe the last `hops` X-Forwarded-For entries: request.remote_addr is then the client.

    Each trusted proxy appends the address it was connected from, so only the last `hops`
    entries are theirs; anything earlier came from the client and is ignored. With 0 the
    header is never believed and the client is the TCP peer.
    """
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)  # type: ignore[method-assign]


def _register(app: Flask) -> None:
    from . import api
    from . import web
    from .ops import admin
    from .ops import alert_watch
    from .ops import health
    from .ops import lifecycle
    from .ops import metrics
    from .ops import metrics_view
    from .ops import openapi
    from .ops import usage

    web.init_app(app)
    api.init_app(app)
    metrics.init_app(app)  # ops observes the request path through the app's hooks (observe.py)
    usage.init_app(app)  # the store (usage per key): hears the request log; GET /admin/api/usage
    if usage.store_of(app) is not None:  # SQLAlchemy loads only with the store on (store/door.py)
        from .ops import fleet

        fleet.init_app(app)  # the store's writer also shares key counts, heartbeats (and the login)
    alert_watch.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(metrics_view.bp)
    app.register_blueprint(openapi.bp)
    lifecycle.start_on_first_request(app)
