"""The Lingma login shared by hosts through the store (LINGMA_SHARE_LOGIN=db), encrypted at rest.

Each "host" is a login folder (lingma/login.py's SharedLogin) and a LoginShare on one database
(SQLite, then PostgreSQL); a round is one `run` in a transaction, as the writer's chore does it.
"""

from __future__ import annotations

import base64
import logging
import os

import pytest
from sqlalchemy import select

from lingma_flask.lingma.login import SharedLogin
from lingma_flask.store import tables
from lingma_flask.store.login_share import LoginShare
from lingma_flask.store.sealed import Sealer
from lingma_flask.store.sealed import WrongKey

SECRET = "the-team-secret-0123456789abcdef"
TOKEN = b"tok-SECRET-9f8e7d6c5b4a"
NAME = b"Ada-Lovelace-1815"   # long enough that a random ciphertext never holds it by chance
LOGIN = {"id": b"machine-id-A", "user": b'{"name": "' + NAME + b'", "token": "' + TOKEN + b'"}'}
MADE_AT = 1_700_000_000.0   # when host A's login was made (its files' time)


class Clock:
    def __init__(self) -> None:
        self.now = MADE_AT + 1000

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def hosts(tmp_path, database, clock):
    """Make a host: its login folder and its LoginShare (its Lingma accepts logins unless told)."""
    def make(name: str, secret: str = SECRET, accepted=lambda: True) -> LoginShare:
        folder = SharedLogin(tmp_path / name / "login")
        return LoginShare(folder, Sealer(secret), host=name, accepted=accepted, clock=clock, grace=60)
    return make


def log_in(share: LoginShare, records: dict[str, bytes] = LOGIN, at: float = MADE_AT) -> None:
    """A login made on this host (as an instance publishes it into the folder)."""
    share.login.adopt(records)
    os.utime(share.login.folder / "user", (at, at))


def run(database, share: LoginShare) -> str:
    with database.engine.begin() as connection:
        return share.run(connection)


def stored(database) -> list[tuple]:
    t = tables.lingma_logins
    with database.connect() as connection:
        return [tuple(row) for row in connection.execute(select(t.c.host, t.c.login).order_by(t.c.host))]


def test_a_login_is_published_encrypted_and_taken_by_a_host_without_one(database, hosts):
    a, b = hosts("host-a"), hosts("host-b")
    log_in(a)
    assert run(database, a) == "published"
    [(host, sealed)] = stored(database)
    assert host == "host-a"
    for secret in (TOKEN, base64.b64encode(LOGIN["user"]), LOGIN["id"], NAME):
        assert secret not in bytes(sealed)
    assert run(database, a) == ""                  # published already
    assert b.login.records() is None
    assert run(database, b) == "took"
    assert b.login.records() == LOGIN              # what its instances restart onto
    assert b.status() == {"mode": "db", "taken_from": "host-a", "refused": False}
    assert run(database, b) == ""                  # in step
    assert stored(database)[0][0] == "host-a" and len(stored(database)) == 1   # b does not republish it


def test_a_wrong_secret_key_cannot_read_the_login_and_says_so(database, hosts, caplog):
    a, c = hosts("host-a"), hosts("host-c", secret="another-secret-key-0000")
    log_in(a)
    run(database, a)
    with pytest.raises(WrongKey):
        Sealer("another-secret-key-0000").open(stored(database)[0][1])
    with caplog.at_level(logging.WARNING, logger="lingma_flask.store.login_share"):
        assert run(database, c) == ""
        assert run(database, c) == ""
    assert c.login.records() is None
    said = [r.getMessage() for r in caplog.records if "LINGMA_SECRET_KEY" in r.getMessage()]
    assert len(said) == 1 and "host-a" in said[0]   # once per published login, not every round


def test_a_logout_on_one_host_removes_the_published_login_and_logs_the_others_out(database, hosts):
    a, b = hosts("host-a"), hosts("host-b")
    log_in(a)
    run(database, a)
    run(database, b)
    a.login.mark_logged_out()                      # the operator's logout on host A's page
    assert run(database, a) == "removed"
    assert stored(database) == [("host-a", None)]  # no login left in the database, a logout mark
    assert run(database, b) == "logged out"
    assert b.login.records() is None and b.login.logged_out_at() is not None
    assert run(database, b) == "" and run(database, a) == ""   # nothing echoes back


def test_a_new_login_after_a_logout_reaches_the_other_hosts(database, hosts, clock):
    a, b = hosts("host-a"), hosts("host-b")
    log_in(a)
    run(database, a)
    run(database, b)
    a.login.mark_logged_out()
    run(database, a)
    run(database, b)
    again = {"id": b"machine-id-A", "user": b'{"name": "Bob", "token": "tok-2"}'}
    log_in(a, again, at=a.login.logged_out_at() + 60)
    assert run(database, a) == "published"
    assert run(database, b) == "took" and b.login.records() == again


def test_a_host_keeps_its_own_login_and_a_newer_one_elsewhere_replaces_a_taken_one(database, hosts):
    a, b, c = hosts("host-a"), hosts("host-b"), hosts("host-c")
    log_in(a)
    run(database, a)
    run(database, c)                               # c takes a's
    own = {"id": b"machine-id-B", "user": b'{"name": "Bea"}'}
    log_in(b, own, at=MADE_AT - 500)               # b's own, older than a's
    assert run(database, b) == ""                  # kept, not replaced, not published over a's
    assert b.login.records() == own
    newer = {"id": b"machine-id-B", "user": b'{"name": "Bea", "v": 2}'}
    log_in(b, newer, at=MADE_AT + 500)             # b logs in again: the newest login now
    assert run(database, b) == "published"
    assert run(database, c) == "took" and c.login.records() == newer   # c had only a taken one
    assert run(database, a) == "" and a.login.records() == LOGIN       # a keeps its own


def test_a_shared_login_this_hosts_lingma_refuses_is_dropped_reported_and_not_taken_again(
        database, hosts, clock, caplog):
    a = hosts("host-a")
    b = hosts("host-b", accepted=lambda: False)    # a ready Lingma that stays logged out
    log_in(a)
    run(database, a)
    assert run(database, b) == "took"
    clock.now += 30
    assert run(database, b) == ""                  # within the grace: it may still be restarting
    clock.now += 60
    with caplog.at_level(logging.WARNING, logger="lingma_flask.store.login_share"):
        assert run(database, b) == "refused"
    assert b.login.records() is None               # the page no longer says logged in
    assert b.status()["refused"] is True
    assert any("LINGMA_SHARE_LOGIN=off" in r.getMessage() and "host-a" in r.getMessage()
               for r in caplog.records)
    assert run(database, b) == "" and b.login.records() is None   # not taken again


def test_a_host_whose_lingma_cannot_tell_yet_is_not_judged(database, hosts, clock):
    a, b = hosts("host-a"), hosts("host-b", accepted=lambda: None)   # no Lingma ready
    log_in(a)
    run(database, a)
    run(database, b)
    clock.now += 3600
    assert run(database, b) == "" and b.login.records() == LOGIN
