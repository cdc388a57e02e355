"""The shared login folder as one instance follows it: seeding, and a logout during the restart."""

import threading

from lingma_flask.lingma.instance import LOGGED_IN
from lingma_flask.lingma.instance import LingmaInstance
from lingma_flask.lingma.settings import CoreSettings


class FakeConnection:
    """Answers `auth/status` with a fixed status and records every method asked."""

    def __init__(self, status: int):
        self.status = status
        self.calls: list[str] = []
        self.closed = threading.Event()

    def request(self, method, params, timeout=None):
        self.calls.append(method)
        return {"status": self.status} if method == "auth/status" else {}

    def close(self, error=None):
        self.closed.set()


def make_instance(tmp_path) -> LingmaInstance:
    settings = CoreSettings(work_dir=str(tmp_path / "work"))
    return LingmaInstance("lingma-0", settings, tmp_path / "work" / "0", command=object())


def publish_a_login(instance, tmp_path) -> None:
    source = tmp_path / "elsewhere" / "cache"
    source.mkdir(parents=True)
    (source / "id").write_text("machine-1")
    (source / "user").write_text("user-record")
    assert instance.shared_login.publish(source)


def test_a_logged_out_instance_seeds_the_shared_login_and_restarts(tmp_path):
    instance = make_instance(tmp_path)
    publish_a_login(instance, tmp_path)
    conn = FakeConnection(status=1)
    instance._refresh(conn)
    assert instance._sync_login(conn) is False and conn.closed.is_set()
    assert (instance.work_dir / "cache" / "user").read_text() == "user-record"


def test_a_logout_made_while_a_seeded_instance_restarts_ends_its_login(tmp_path):
    instance = make_instance(tmp_path)
    publish_a_login(instance, tmp_path)
    assert instance._sync_login(FakeConnection(status=1)) is False   # seeded, restarting
    instance.shared_login.mark_logged_out()                          # the operator logs out
    conn = FakeConnection(status=LOGGED_IN)                          # Lingma back, logged in
    instance._refresh(conn)
    assert instance.logged_in
    assert instance._sync_login(conn) is True
    assert "auth/logout" in conn.calls
    assert not (instance.work_dir / "cache" / "user").exists()
    assert not instance.shared_login.has_login()   # the stale login was not published again


def test_a_fresh_login_after_a_logout_is_shared(tmp_path):
    instance = make_instance(tmp_path)
    instance.shared_login.mark_logged_out()
    cache = instance.work_dir / "cache"
    cache.mkdir(parents=True)
    (cache / "id").write_text("machine-1")
    (cache / "user").write_text("new-user")                          # logged in through the callback
    conn = FakeConnection(status=LOGGED_IN)
    instance._refresh(conn)
    assert instance._sync_login(conn) is True and "auth/logout" not in conn.calls
    assert instance.shared_login.has_login() and instance.shared_login.logged_out_at() is None
