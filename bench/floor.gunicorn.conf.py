"""gunicorn settings for the bare WSGI floor (`bench/floor_app.py`): the project's own.

`gunicorn.conf.py` is run as is (worker class, connections, timeouts, logging, the metrics
directory), then the two hooks that start and stop the Lingma pool are replaced by no-ops:
the floor has no Lingma.
"""
from pathlib import Path

exec(compile((Path(__file__).resolve().parent.parent / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"))


def post_worker_init(worker):  # noqa: F811 - replaces the project's hook on purpose
    """No Lingma pool in the floor."""


def worker_exit(server, worker):  # noqa: F811 - replaces the project's hook on purpose
    """No Lingma pool in the floor."""
