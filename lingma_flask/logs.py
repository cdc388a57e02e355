"""Logging setup: app logs at LINGMA_LOG_LEVEL, and one JSON line per request on stdout."""

from __future__ import annotations

import logging
import sys

REQUEST_LOGGER = "lingma_flask.requests"


class _StdoutHandler(logging.StreamHandler):
    """A handler that always writes to the current sys.stdout (test captures replace it)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


def configure_logging(level: str) -> None:
    """Set the package's log level and give request lines their own bare stdout handler.

    When nothing configured logging (gunicorn leaves the root logger bare), the package's
    records go to stderr in gunicorn's line format.
    """
    package = logging.getLogger("lingma_flask")
    package.setLevel(level)
    if not package.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(
            "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s",
            "%Y-%m-%d %H:%M:%S %z"))
        package.addHandler(handler)
    requests = logging.getLogger(REQUEST_LOGGER)
    requests.setLevel(logging.INFO)
    if not any(isinstance(h, _StdoutHandler) for h in requests.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        requests.addHandler(handler)
        requests.propagate = False
