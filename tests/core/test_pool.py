"""Instances and the pool against the real simulator process: the whole core, end to end."""

import threading

import pytest

from lingma_flask.lingma import errors
from lingma_flask.lingma import procutil
from lingma_flask.lingma.instance import FAILED
from lingma_flask.lingma.instance import wait_until
from lingma_flask.lingma.pool import LingmaPool
from lingma_flask.lingma.settings import CoreSettings
from tests.core.conftest import sim_get
from tests.core.conftest import sim_state


def test_pool_starts_and_reads_the_model_registry(shared_pool):
    pool = shared_pool
    keys = [m.key for m in pool.models()]
    assert "auto" in keys and "dashscope_qwen3_coder" in keys
    coder = next(m for m in pool.models() if m.key == "dashscope_qwen3_coder")
    assert coder.display_name == "Qwen3-Coder" and "chat" in coder.scenes
    health = pool.health()
    assert health["ready"] is True and health["simulator"] is True
    assert health["instances"][0]["state"] == "ready" and health["instances"][0]["logged_in"] is True
    assert "SIMULATED-TOKEN" not in str(health) and "refreshToken" not in str(health)


def test_ask_sends_the_seed_shape_and_streams_the_answer(make_pool):
    pool = make_pool()
    stream = pool.ask("hello there", "dashscope_qwen3_coder")
    assert "".join(stream) == "You said: hello there"
    second = pool.ask("again", None)
    assert "".join(second) == "You said: again"
    asks = sim_state(pool.instances[0])["asks"]
    first = next(a for a in asks if a["requestId"] == stream.request_id)
    assert first["sessionType"] == "chat" and first["mode"] == "chat"
    assert first["questionText"] == "hello there" and first["model"] == "dashscope_qwen3_coder"
    assert first["pluginPayloadConfig"]["isEnableAutoMemory"] is False
    assert len({a["sessionId"] for a in asks}) == len(asks) == 2
    assert pool.health()["in_flight"] == 0
    assert pool.instances[0].conn.streams == {}


def test_every_push_was_acked(make_pool, monkeypatch):
    monkeypatch.setenv("LINGMA_SIM_STRICT", "1")
    pool = make_pool()
    assert "".join(pool.ask("strict [[sim:chunks=20]]", None)) == "You said: strict"
    acks = sim_state(pool.instances[0])["acks"]
    assert wait_until(lambda: sim_state(pool.instances[0])["acks"]["missing"] == 0, 5), acks
    assert acks["late"] == 0


@pytest.mark.parametrize("marker", ["split", "coalesce", "garbage", "reply=success", "reply=none"])
def test_wire_variants_give_the_same_answer(shared_pool, marker):
    pool = shared_pool
    assert "".join(pool.ask(f"variant 中文 [[sim:{marker}]]", None)) == "You said: variant 中文"


def test_ask_reply_failure_fails_the_stream_at_once(shared_pool):
    pool = shared_pool
    with pytest.raises(errors.LingmaUpstreamError, match="simulated ask failure"):
        list(pool.ask("x [[sim:reply=fail]] [[sim:ttft=5]]", None))


def test_full_answer_only(shared_pool):
    pool = shared_pool
    assert "".join(pool.ask("quiet [[sim:empty_then_full]]", None)) == "You said: quiet"


@pytest.mark.parametrize("code,error_type", [
    (429, errors.LingmaRateLimitError), (403, errors.LingmaQuotaError), (401, errors.LingmaNotLoggedInError),
    (406, errors.LingmaContentFilterError), (500, errors.LingmaUpstreamError), (40505, errors.LingmaUpstreamError),
])
def test_finish_errors_reach_the_consumer_typed(make_pool, shared_pool, code, error_type):
    pool = make_pool() if code == 401 else shared_pool  # a 401 logs its instance out
    with pytest.raises(error_type):
        list(pool.ask(f"fail [[sim:finish={code}]]", None))
    assert pool.health()["in_flight"] == 0


def test_cancel_sends_chat_stop_seen_by_lingma(make_pool):
    pool = make_pool()
    stream = pool.ask("slow [[sim:len=2000]] [[sim:delay=0.05]]", None)
    assert next(iter(stream))
    stream.close()
    instance = pool.instances[0]
    assert wait_until(lambda: stream.request_id in sim_state(instance)["stops"], 5)
    assert pool.health()["in_flight"] == 0 and instance.conn.streams == {}


def test_health_counts_open_streams_until_they_close(make_pool):
    pool = make_pool()
    stream = pool.ask("open [[sim:stall]]", None)
    health = pool.health()
    assert health["open_streams"] == health["instances"][0]["open_streams"] == 1
    assert health["in_flight"] == 1
    stream.close()
    health = pool.health()
    assert health["open_streams"] == health["instances"][0]["open_streams"] == 0
    assert health["in_flight"] == 0


def test_chats_leave_no_session_behind_in_lingma(make_pool):
    pool = make_pool()
    instance = pool.instances[0]
    finished = pool.ask("done", None)
    assert "".join(finished) == "You said: done"
    cancelled = pool.ask("slow [[sim:len=2000]] [[sim:delay=0.05]]", None)
    assert next(iter(cancelled))
    cancelled.close()
    with pytest.raises(errors.LingmaUpstreamError):
        list(pool.ask("fail [[sim:finish=500]]", None))
    assert sim_state(instance)["asks_total"] == 3
    assert wait_until(lambda: sim_state(instance)["sessions"] == 0, 5), sim_get(instance, "/sim/sessions")


def test_first_token_timeout_on_a_stall(make_pool):
    pool = make_pool(first_token_timeout=0.5)
    stream = pool.ask("never [[sim:stall]]", None)
    with pytest.raises(errors.LingmaTimeoutError) as info:
        list(stream)
    assert info.value.phase == "first_token"
    assert wait_until(lambda: stream.request_id in sim_state(pool.instances[0])["stops"], 5)


def test_agent_mode_tool_invoke_is_refused_quickly(make_pool):
    pool = make_pool(ask_mode="agent")
    stream = pool.ask("use a tool [[sim:toolinvoke]]", None)
    assert "".join(stream) == "You said: use a tool"
    state = sim_state(pool.instances[0])
    ask = next(a for a in state["asks"] if a["requestId"] == stream.request_id)
    assert ask["sessionType"] == "developer" and ask["mode"] == "agent"
    assert state["tool_results"] and state["tool_results"][0]["success"] is False


def test_crash_mid_stream_fails_fast_then_a_new_process_serves(make_pool):
    pool = make_pool(reconnect_backoff=0.2)
    instance = pool.instances[0]
    old_pid = instance.process.pid
    with pytest.raises(errors.LingmaConnectionError):
        list(pool.ask("boom [[sim:crash]] [[sim:len=400]]", None))
    assert wait_until(lambda: instance.ready and instance.process.pid != old_pid, 20), instance.health()
    assert instance.restarts == 1 and not procutil.pid_alive(old_pid)
    assert "".join(pool.ask("after crash", None)) == "You said: after crash"


def test_health_never_names_a_dead_process(make_pool):
    pool = make_pool()
    instance = pool.instances[0]
    assert instance.health()["pid"] == instance.process.pid
    with pytest.raises(errors.LingmaConnectionError):
        list(pool.ask("boom [[sim:crash=1]]", None))
    # the respawn waits out a 1 s backoff: meanwhile no process runs, and health says so
    assert wait_until(lambda: instance.health()["pid"] is None, 0.8), instance.health()
    assert wait_until(lambda: instance.ready, 20) and procutil.pid_alive(instance.health()["pid"])


def test_the_model_registry_stays_known_while_lingma_respawns(make_pool, monkeypatch):
    pool = make_pool()
    instance = pool.instances[0]
    keys = [m.key for m in pool.models()]
    monkeypatch.setenv("LINGMA_SIM_START_DELAY", "1.5")   # the next process is slow to listen
    with pytest.raises(errors.LingmaConnectionError):
        list(pool.ask("boom [[sim:crash=1]]", None))
    assert wait_until(lambda: instance.state == "reconnecting", 2) and not pool.wait_ready(0)
    assert [m.key for m in pool.models()] == keys
    assert wait_until(lambda: instance.ready, 20), instance.health()


def test_a_first_start_has_no_registry_to_offer(make_pool, monkeypatch):
    monkeypatch.setenv("LINGMA_SIM_START_DELAY", "1.5")  # the stop at the end waits it out
    pool = make_pool(wait=False)
    with pytest.raises(errors.LingmaNotReadyError):
        pool.models()


def test_dropped_socket_reconnects_to_the_same_process(make_pool):
    pool = make_pool(reconnect_backoff=0.2)
    instance = pool.instances[0]
    pid = instance.process.pid
    with pytest.raises(errors.LingmaConnectionError):
        list(pool.ask("drop it [[sim:drop]] [[sim:len=400]]", None))
    assert instance.state in ("reconnecting", "ready")
    assert wait_until(lambda: instance.ready, 15)
    assert instance.process.pid == pid and instance.restarts == 0
    assert "".join(pool.ask("back", None)) == "You said: back"


def test_logged_out_lingma_says_so_until_login_completes(make_pool, monkeypatch):
    monkeypatch.setenv("LINGMA_SIM_LOGGED_IN", "0")
    pool = make_pool()
    with pytest.raises(errors.LingmaNotLoggedInError, match="not logged in"):
        pool.ask("hi", None)
    with pytest.raises(errors.LingmaNotLoggedInError):
        pool.models()
    assert pool.health()["ready"] is False
    sim_get(pool.instances[0], "/sim/login")
    assert "".join(pool.ask("hi", None)) == "You said: hi"
    assert pool.models()


def test_busy_after_the_queue_timeout_then_a_slot_frees(make_pool):
    pool = make_pool(max_concurrency=2, queue_timeout=0.3)
    held = [pool.ask(f"hold {i} [[sim:stall]]", None) for i in range(2)]
    with pytest.raises(errors.LingmaBusyError) as info:
        pool.ask("third", None)
    assert info.value.retry_after and info.value.retry_after > 0
    waiter = {}
    t = threading.Thread(target=lambda: waiter.setdefault("s", pool.ask("queued", None)))
    t.start()
    held[0].close()
    t.join(5)
    assert "".join(waiter["s"]) == "You said: queued"
    held[1].close()
    assert pool.health()["in_flight"] == 0


def test_two_instances_share_the_load_with_own_dirs_and_ports(make_pool):
    pool = make_pool(pool_size=2)
    assert wait_until(lambda: all(i.ready for i in pool.instances), 20)
    a = pool.ask("a [[sim:stall]]", None)
    b = pool.ask("b [[sim:stall]]", None)
    assert {a.instance_name, b.instance_name} == {"lingma-0", "lingma-1"}
    ports = {i.conn.port for i in pool.instances}
    dirs = {i.work_dir for i in pool.instances}
    assert len(ports) == 2 and len(dirs) == 2
    a.close(), b.close()


def test_drain_ends_open_streams_with_a_shutdown_error(make_pool):
    pool = make_pool()
    stream = pool.ask("long [[sim:stall]]", None)
    assert pool.drain("bye") == 1
    with pytest.raises(errors.LingmaShutdownError, match="bye"):
        list(stream)


def test_stop_leaves_no_process_behind(make_pool):
    pool = make_pool(pool_size=2)
    assert wait_until(lambda: all(i.ready for i in pool.instances), 20)
    pids = [i.process.pid for i in pool.instances]
    stream = pool.ask("open [[sim:stall]]", None)
    pool.stop()
    assert all(not procutil.pid_alive(pid) for pid in pids)
    with pytest.raises(errors.LingmaConnectionError):
        list(stream)


def test_gives_up_then_the_next_request_starts_afresh(tmp_path):
    bad = tmp_path / "Lingma"
    bad.write_text("#!/bin/sh\necho 'license expired' >&2\nexit 3\n")
    bad.chmod(0o755)
    pool = LingmaPool(CoreSettings(bin=str(bad), work_dir=str(tmp_path / "w"), reconnect_attempts=1,
                                   reconnect_backoff=0.2, startup_timeout=5))
    pool.start()
    try:
        instance = pool.instances[0]
        assert wait_until(lambda: instance.state == FAILED, 15), instance.health()
        assert "license expired" in instance.last_error or "exit" in instance.last_error
        expected = "(?s)is failed: gave up .*license expired.*starting it again"
        with pytest.raises(errors.LingmaNotReadyError, match=expected):
            pool.ask("hi", None)
        assert instance.state in ("starting", "reconnecting", FAILED)
        assert wait_until(lambda: instance.state == FAILED, 15)
    finally:
        pool.stop()


def test_attach_mode_uses_a_running_lingma_and_never_kills_it(tmp_path, make_pool):
    owner = make_pool()
    running = owner.instances[0].process
    pool = LingmaPool(CoreSettings(socket_port=running.port, work_dir=str(tmp_path / "attach")))
    pool.start()
    try:
        assert pool.wait_ready(10)
        assert "".join(pool.ask("attached", None)) == "You said: attached"
    finally:
        pool.stop()
    assert running.alive() and procutil.pid_alive(running.pid)


def test_attach_mode_to_a_closed_port_is_not_ready(tmp_path):
    port = procutil.free_port()
    pool = LingmaPool(CoreSettings(socket_port=port, work_dir=str(tmp_path / "a"), reconnect_attempts=0))
    pool.start()
    try:
        assert wait_until(lambda: pool.instances[0].state == FAILED, 10)
        assert str(port) in pool.instances[0].last_error
        with pytest.raises(errors.LingmaNotReadyError):
            pool.ask("x", None)
    finally:
        pool.stop()


def test_a_logout_seen_in_a_finish_reaches_health_at_once(make_pool):
    pool = make_pool()
    instance = pool.instances[0]
    sim_get(instance, "/sim/logout")
    with pytest.raises(errors.LingmaNotLoggedInError):
        list(pool.ask("after logout", None))
    assert wait_until(lambda: not instance.logged_in, 5)
    assert pool.health()["ready"] is False
