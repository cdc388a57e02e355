"""The shared login folder as one instance follows it: seeding before a start, a sync restart
that requests wait for, a logout that always ends logged out, a lost login seen by the probe."""

import threading
import time
import types

import pytest

from lingma_flask.lingma.errors import LingmaConnectionError
from lingma_flask.lingma.errors import LingmaRpcError
from lingma_flask.lingma.errors import LingmaShutdownError
from lingma_flask.lingma.instance import LOGGED_IN
from lingma_flask.lingma.instance import READY
from lingma_flask.lingma.instance import LingmaInstance
from lingma_flask.lingma.rpc import RpcConnection
from lingma_flask.lingma.settings import CoreSettings

COMMAND = types.SimpleNamespace(simulator=False)


class FakeConnection:
    """Answers `auth/status` with a settable status, fails the methods in `unknown` as Lingma
    answers a method it does not know, and records every method asked."""

    def __init__(self, status: int, unknown=()):
        self.status = status
        self.unknown = set(unknown)
        self.calls: list[str] = []
        self.closed = threading.Event()
        self.lost_as = None

    def request(self, method, params, timeout=None):
        self.calls.append(method)
        if method in self.unknown:
            raise LingmaRpcError(method, -32601, f"method not found: {method}")
        return {"status": self.status, "name": "Ada"} if method == "auth/status" else {}

    def idle_for(self):
        return 0.0

    def close(self, error=None):
        self.closed.set()


class FakeProcess:
    def __init__(self):
        self.stopped = 0

    def stop(self):
        self.stopped += 1


def make_instance(tmp_path, command=COMMAND, **settings) -> LingmaInstance:
    core = CoreSettings(work_dir=str(tmp_path / "work"), **settings)
    return LingmaInstance("lingma-0", core, tmp_path / "work" / "0", command=command)


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


def write_cache(folder, user="ide-user"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "id").write_text("machine-9")
    (folder / "user").write_text(user)
    return folder


def test_a_starting_lingma_gets_the_shared_login_first_so_it_starts_logged_in(tmp_path):
    instance = make_instance(tmp_path, login_from=str(write_cache(tmp_path / "ide")))
    publish_a_login(instance, tmp_path)
    instance._seed_login_before_start()
    assert (instance.work_dir / "cache" / "user").read_text() == "user-record"  # not the IDE's
    assert not instance.login_sync_due()   # taken up: no restart to follow


def test_login_from_seeds_a_start_unless_an_operator_logged_the_gateway_out(tmp_path):
    instance = make_instance(tmp_path, login_from=str(write_cache(tmp_path / "ide")))
    instance._seed_login_before_start()
    assert (instance.work_dir / "cache" / "user").read_text() == "ide-user"
    other = make_instance(tmp_path / "b", login_from=str(tmp_path / "ide"))
    other.shared_login.mark_logged_out()
    other._seed_login_before_start()
    assert not (other.work_dir / "cache" / "user").exists()  # a logout is not undone by a restart


def test_a_published_login_is_taken_up_once_not_in_a_loop(tmp_path):
    instance = make_instance(tmp_path)
    publish_a_login(instance, tmp_path)
    conn = FakeConnection(status=1)
    instance._refresh(conn)
    assert instance._sync_login(conn) is False            # seeded, restarting
    (instance.work_dir / "cache" / "user").write_text("rewritten by a Lingma that refused it")
    conn = FakeConnection(status=1)
    instance._refresh(conn)
    assert not instance.login_sync_due() and instance._sync_login(conn) is True


def test_requests_wait_while_a_ready_instance_takes_up_the_shared_login(tmp_path):
    instance = make_instance(tmp_path)
    conn = FakeConnection(status=1)
    instance.conn, instance.state = conn, READY
    instance._refresh(conn)
    assert instance.routable()                 # logged out, nothing to take up: it explains
    publish_a_login(instance, tmp_path)
    assert not instance.routable()             # a sync restart is due: not routable, so waited for
    assert instance._refresh_now.is_set()      # and the supervisor is woken to do it now
    assert "restarting with the gateway's shared login" in instance.not_ready_message()


def test_a_lingma_without_auth_logout_is_logged_out_by_removing_its_login(tmp_path, caplog):
    caplog.set_level("INFO", logger="lingma_flask.lingma.instance")
    instance = make_instance(tmp_path)
    write_cache(instance.work_dir / "cache")
    conn = FakeConnection(status=LOGGED_IN, unknown={"auth/logout"})
    instance._refresh(conn)
    assert instance.logged_in
    instance._logout_here(conn)                # no error for the admin API to turn into a 502
    assert not instance.logged_in and not (instance.work_dir / "cache" / "user").exists()
    assert instance._restart_reason == ("logging out", True)
    assert "did not log out" in caplog.text and "[lingma-0] logged out" in caplog.text


def test_an_attached_lingma_that_cannot_log_out_says_so(tmp_path):
    instance = make_instance(tmp_path, command=None)
    conn = FakeConnection(status=LOGGED_IN, unknown={"auth/logout"})
    instance._refresh(conn)
    with pytest.raises(LingmaRpcError):
        instance._logout_here(conn)


def test_the_probe_reads_the_login_and_a_lost_one_is_unpublished(tmp_path, caplog):
    caplog.set_level("INFO", logger="lingma_flask.lingma.instance")
    instance = make_instance(tmp_path)
    publish_a_login(instance, tmp_path)
    instance._seed_login_before_start()
    conn = FakeConnection(status=LOGGED_IN)
    instance._refresh(conn)
    assert "logged in as Ada" in caplog.text
    conn.status = 1                                        # the login files were deleted
    assert instance._probe(conn, forced=False)             # read recently: not asked again yet
    assert instance.logged_in
    instance._auth_read_at = time.monotonic() - instance.settings.probe_interval
    assert instance._probe(conn, forced=False)
    assert not instance.logged_in and "login lost" in caplog.text
    assert not instance.shared_login.has_login()           # the whole gateway now says logged out


def test_planned_restarts_are_counted_apart_and_leave_no_last_error(tmp_path):
    instance = make_instance(tmp_path)
    instance.process = FakeProcess()
    instance._restart(FakeConnection(status=1), "restart asked by an operator", planned=True)
    assert (instance.restarts, instance.planned_restarts, instance.last_error) == (1, 1, "")
    instance.process = FakeProcess()
    instance._restart(FakeConnection(status=1), "Lingma did not answer a health probe", planned=False)
    assert (instance.restarts, instance.planned_restarts) == (2, 1)
    assert "health probe" in instance.last_error


def test_after_shutdown_begins_a_lost_connection_is_the_shutdown(tmp_path):
    instance = make_instance(tmp_path)
    conn = RpcConnection(1)
    instance.conn = conn
    instance.begin_shutdown()
    conn.close(LingmaConnectionError("Lingma closed the connection"))   # Lingma got SIGTERM too
    assert isinstance(conn.close_error, LingmaShutdownError)
    assert instance._draining


def test_the_watch_loop_wakes_when_the_login_is_due_to_be_read(tmp_path):
    instance = make_instance(tmp_path, probe_interval=10.0)
    instance._auth_read_at = time.monotonic() - 9.5          # due in half a second
    assert 0.25 <= instance._next_wait() <= 0.5
    instance._auth_read_at = time.monotonic()               # just read: the shared-folder poll
    assert instance._next_wait() == 2.0
    instance._auth_read_at = time.monotonic() - 60           # overdue (a read failed): no busy loop
    assert instance._next_wait() == 0.25
