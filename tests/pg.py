"""A real PostgreSQL for the tests: Debian's `postgresql`, started in a temporary folder.

`PostgresServer` runs `initdb` into a fresh folder and `pg_ctl start` on a free loopback port,
with its Unix socket in that folder too, trust authentication and no fsync (a test server). As
root it runs them as the `postgres` user (PostgreSQL refuses root) through `runuser`, with
argument lists only. The programs are found on PATH or in Debian's /usr/lib/postgresql/<ver>/bin.
Without them the tests that need one skip, except under CI=true, where they fail: `make tools`
installs the package as root.

The session's server is the `postgres` fixture (tests/conftest.py); `database_url()` makes a
fresh database per test. A test that stops the server (the outage test) makes its own.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.integration.tools import on_ci

PROGRAMS = ("initdb", "pg_ctl")
DEBIAN_BINS = "/usr/lib/postgresql/*/bin"
SERVICE_USER = "postgres"
SUPERUSER = "postgres"
START_TIMEOUT = 60  # seconds pg_ctl waits for the server (a shared, busy machine)
_names = itertools.count()


def find_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl: Debian's newest version's, else PATH's; None if missing."""
    versions = sorted(glob.glob(DEBIAN_BINS), key=lambda p: _version(Path(p).parent.name), reverse=True)
    for folder in versions:
        if all((Path(folder) / name).exists() for name in PROGRAMS):
            return Path(folder)
    found = [shutil.which(name) for name in PROGRAMS]
    if all(found):
        return Path(os.path.realpath(str(found[0]))).parent
    return None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def free_port() -> int:
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def require_postgres() -> Path:
    """The programs' folder; skip without them, or fail under CI=true."""
    folder = find_bin_dir()
    if folder is not None and (os.geteuid() != 0 or _service_user() is not None):
        return folder
    reason = ("PostgreSQL's initdb/pg_ctl are not installed (Debian package postgresql; `make tools`"
              " installs it as root)" if folder is None else
              f"running as root and there is no {SERVICE_USER!r} user to run PostgreSQL as")
    if on_ci():
        pytest.fail(f"{reason}, and CI=true needs it", pytrace=False)
    pytest.skip(reason)


def _service_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return None


class PostgresServer:
    """One throw-away PostgreSQL cluster on 127.0.0.1:`port`."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="lingma-pg-"))  # not under pytest's 0700 root folder
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.as_user = _service_user() if os.geteuid() == 0 else None
        if self.as_user is not None:
            os.chown(self.root, self.as_user.pw_uid, self.as_user.pw_gid)

    def run(self, program: str, *args: str, timeout: float = START_TIMEOUT + 30) -> str:
        """Run one of PostgreSQL's programs (as the service user when root); return its output."""
        argv = [str(self.bin_dir / program), *args]
        if self.as_user is not None:
            argv = ["runuser", "-u", self.as_user.pw_name, "--", *argv]
        done = subprocess.run(argv, cwd=self.root, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                               f"{self.log.read_text() if self.log.exists() else ''}")
        return done.stdout

    def init(self) -> PostgresServer:
        """Create the cluster: trust authentication, loopback only, its socket in its own folder."""
        self.run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                 "--no-sync", "--locale=C")
        settings = {"port": str(self.port), "listen_addresses": "'127.0.0.1'",
                    "unix_socket_directories": f"'{self.root}'", "fsync": "off",
                    "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "100"}
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        return self

    def start(self) -> PostgresServer:
        """Start the server and wait until it takes connections."""
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(START_TIMEOUT), "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: its connections are cut, as in an outage)."""
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        """Whether the server runs."""
        argv = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "status"]
        if self.as_user is not None:
            argv = ["runuser", "-u", self.as_user.pw_name, "--", *argv]
        return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of one of its databases."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A fresh, empty database; return its URL."""
        import psycopg

        name = f"test_{os.getpid()}_{next(_names)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres",
                             autocommit=True, connect_timeout=10) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        """Stop the server if it runs, and remove its folder."""
        try:
            if self.data.exists() and self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def started(bin_dir: Path) -> PostgresServer:
    """A new server, initialised and started (closed again if it cannot start)."""
    server = PostgresServer(bin_dir)
    try:
        return server.init().start()
    except BaseException:
        server.close()
        raise


def wait_for(check, timeout: float = 30.0, interval: float = 0.1):
    """Poll `check()` until it returns something true, or fail at the deadline; return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true within {timeout:g} s: {check}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def postgres():
    """The session's PostgreSQL server (skipped without PostgreSQL, failed under CI=true)."""
    server = started(require_postgres())
    yield server
    server.close()
