"""What every test shares: Flask's test client closes a response as a server would; and the
agent CLIs and clients the integration tests drive are installed in the background while the
other tests run (tests/integration/prefetch.py).

A WSGI server (gunicorn, werkzeug's) closes every response after its last byte; the request
log line is written then (web/requestlog.py). Flask's test client leaves an unbuffered response
open until the test closes it, so it would never log. Here a plain answer is read and closed at
once, and a stream is closed when the test has read its body.
"""

from __future__ import annotations

import flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.pg import postgres  # noqa: F401  the session's PostgreSQL server (tests/pg.py)


class ServedResponse(TestResponse):
    """A test response closed when its body has been read, as a server closes it (a mixin
    before the app's own response class)."""

    def get_data(self, as_text: bool = False):  # type: ignore[override]
        data = super().get_data(as_text)
        self.close()
        return data


class ServedClient(FlaskClient):
    """Flask's test client, answering with `ServedResponse`s."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.response_wrapper = type("Served" + self.response_wrapper.__name__,
                                     (ServedResponse, self.response_wrapper), {})

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        if response.mimetype != "text/event-stream":
            response.get_data()
        return response


flask.Flask.test_client_class = ServedClient


def pytest_collection_finish(session) -> None:
    """Start installing the clients the collected tests need, in the background."""
    from tests.integration import prefetch

    prefetch.start([item.nodeid for item in session.items])
