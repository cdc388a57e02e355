"""Run the store's migrations in a short-lived child process.

A gateway worker lives long, and Alembic (with Mako) costs it about 12 MB that it would keep
for the rest of its life after one migration. So a worker whose database is behind runs
`python -m lingma_flask.store.migrate_child` instead: the child takes the same lock
(`migrate.upgrade`), migrates, and exits. The URL reaches the child in its environment, never
on its command line, where `ps` would show a password.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import URL
from sqlalchemy.engine import make_url

ENV = "LINGMA_STORE_MIGRATE_URL"
TIMEOUT = 300.0   # seconds: the lock's own timeout (120 s) and the migration itself

log = logging.getLogger("lingma_flask.store.migrate")


class MigrationFailed(RuntimeError):
    """The child could not migrate the database (its last line of output says why)."""


def run(url: URL, timeout: float = TIMEOUT) -> None:
    """Migrate the database at `url` in a child process; raise MigrationFailed if it cannot."""
    # the child imports this package from where the parent did, installed or not
    here = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, ENV: url.render_as_string(hide_password=False), "PYTHONPATH": path}
    try:
        done = subprocess.run([sys.executable, "-m", __name__], env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise MigrationFailed(f"the store's migration did not finish within {timeout:g} s") from exc
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    if done.returncode != 0:
        why = lines[-1] if lines else f"exit status {done.returncode}"
        raise MigrationFailed(f"the store's database could not be migrated: {why}")
    for line in lines:
        log.info("%s", line)


def main() -> int:
    """Migrate the database named in the environment; one line on stderr says what happened."""
    from . import migrate
    from .engine import make_engine
    from .url import describe

    url = make_url(os.environ[ENV])
    engine = make_engine(url)
    try:
        changed = migrate.upgrade(engine)
    except Exception as exc:  # the database's errors and Alembic's: one line for the parent
        print(f"{type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if changed:
        print(f"store: {describe(url)} migrated to revision {migrate.head()} (in a child process)",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
