"""Which database the store uses: LINGMA_DATABASE_URL, else DATABASE_URL, else SQLite in the work root.

`DATABASE_URL` is the PaaS convention (Heroku and others set it to `postgres://...`); both
spellings of PostgreSQL's scheme are mapped to SQLAlchemy's psycopg 3 driver. A URL's
password never leaves this module in a readable form: `describe()` is what logs show.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import URL
from sqlalchemy.engine import make_url

FILE_NAME = "lingma.db"
PLATFORM_VARIABLE = "DATABASE_URL"
# scheme as written -> SQLAlchemy's dialect+driver
POSTGRES_SCHEMES = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg"}


def resolve(configured: str | None, environ: Mapping[str, str], work_root: Path) -> URL:
    """Return the store's URL: `configured` (LINGMA_DATABASE_URL) wins over environ's DATABASE_URL.

    With neither, SQLite at `<work root>/lingma.db`: beside the workers' work dirs (`w0/`,
    `w1/`), shared by every worker of the gateway, never inside one instance's dir.
    """
    text = configured or (environ.get(PLATFORM_VARIABLE) or "").strip() or None
    if text is None:
        return URL.create("sqlite", database=str(Path(work_root).expanduser() / FILE_NAME))
    return normalize(text)


def normalize(text: str) -> URL:
    """Parse a URL; map `postgres://` and `postgresql://` to psycopg 3 (`postgresql+psycopg://`)."""
    url = make_url(text.strip())
    driver = POSTGRES_SCHEMES.get(url.drivername)
    return url.set(drivername=driver) if driver else url


def describe(url: URL) -> str:
    """The URL as logs and the command line show it: the password as `***`."""
    return url.render_as_string(hide_password=True)


def is_sqlite(url: URL) -> bool:
    """Whether the URL names a SQLite database."""
    return url.get_backend_name() == "sqlite"


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL; None for an in-memory database or another backend."""
    if not is_sqlite(url) or url.database in (None, "", ":memory:"):
        return None
    return Path(str(url.database))
