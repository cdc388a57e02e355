"""The gateway app behind a proxy that drops `Upgrade` headers: a WebSocket handshake reaches
it as a plain GET (tests/integration/test_responses_ws.py: Codex must fall back at once)."""

from lingma_flask import create_app

app = create_app()
_serve = app.wsgi_app


def _without_upgrade(environ, start_response):
    environ.pop("HTTP_UPGRADE", None)
    return _serve(environ, start_response)


app.wsgi_app = _without_upgrade  # type: ignore[method-assign]
