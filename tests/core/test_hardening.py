"""The core's defences: exactly-once slots, bounded buffers, prompt limit, probes, the work-dir lock."""

import os
import signal
from pathlib import Path

import pytest

from lingma_flask.lingma import errors
from lingma_flask.lingma import procutil
from lingma_flask.lingma.instance import wait_until
from lingma_flask.lingma.lock import WorkDirLock
from lingma_flask.lingma.pool import LingmaPool
from lingma_flask.lingma.settings import CoreSettings
from lingma_flask.lingma.stream import ChatStream
from lingma_flask.lingma.stream import Thought
from tests.core.conftest import sim_state


def in_flight(pool) -> list[int]:
    return [i.in_flight for i in pool.instances]


@pytest.mark.parametrize("failure", [
    errors.LingmaConnectionError("socket gone"),
    UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
])
def test_a_failed_send_frees_the_slot_exactly_once(make_pool, monkeypatch, failure):
    pool = make_pool(max_concurrency=2, queue_timeout=0.2)
    conn = pool.instances[0].conn
    real = conn.request_nowait

    def failing(method, params=None, on_reply=None):
        if method == "chat/ask":
            raise failure
        return real(method, params, on_reply)

    monkeypatch.setattr(conn, "request_nowait", failing)
    for _ in range(5):
        with pytest.raises(type(failure)):
            pool.ask("never sent", None)
        assert in_flight(pool) == [0]
    assert conn.streams == {} and conn._reply_hooks == {}
    monkeypatch.setattr(conn, "request_nowait", real)
    held = [pool.ask(f"hold {i} [[sim:stall]]", None) for i in range(2)]
    assert in_flight(pool) == [2]
    with pytest.raises(errors.LingmaBusyError):  # the limit still holds after the failures
        pool.ask("third", None)
    for stream in held:
        stream.close()
        stream.close()
    assert in_flight(pool) == [0]


def test_a_prompt_over_the_limit_never_reaches_lingma(make_pool):
    pool = make_pool(max_prompt_chars=100)
    with pytest.raises(errors.LingmaPromptTooLargeError, match="LINGMA_MAX_PROMPT_CHARS"):
        pool.ask("x" * 101, None)
    assert in_flight(pool) == [0] and sim_state(pool.instances[0])["asks"] == []
    assert "".join(pool.ask("y" * 100, None)).startswith("You said: y")


def test_the_prompt_goes_out_once_plus_its_mirror(make_pool):
    pool = make_pool()
    stream = pool.ask("only twice", None)
    assert "".join(stream) == "You said: only twice"
    ask = sim_state(pool.instances[0])["asks"][0]
    assert ask["questionText"] == "only twice"
    assert not {"content", "text", "message"} & set(ask)


def test_a_consumer_that_stops_reading_gets_a_bounded_buffer_and_lingma_is_stopped():
    stops = []
    stream = ChatStream("r", "s", None, max_buffer=1000, stopper=lambda r, s: stops.append(r))
    for _ in range(100):
        stream.push_answer({"text": "x" * 50})
    assert stops == ["r"]
    queued = stream._queue.qsize()
    assert queued < 20  # the rest was dropped, not buffered
    with pytest.raises(errors.LingmaCancelledError, match="fast enough"):
        list(stream)
    assert stream.done and stops == ["r"]


def test_reasoning_comes_as_thoughts_before_the_text_when_asked():
    stream = ChatStream("r", "s", None)
    stream.push_think({"text": "pushed thought. "})
    stream.push_answer({"text": "\n```think::1\nfenced "})
    stream.push_answer({"text": "thought\n```\nThe answer."})
    stream.push_finish({"statusCode": 200})
    items = list(stream.events(None, reasoning=True))
    thoughts = "".join(i.text for i in items if isinstance(i, Thought))
    assert thoughts == "pushed thought. fenced thought"
    assert "".join(i for i in items if isinstance(i, str)) == "The answer."
    first_text = next(n for n, i in enumerate(items) if isinstance(i, str))
    assert all(isinstance(i, Thought) for i in items[:first_text])


def test_a_hung_lingma_is_probed_taken_out_and_restarted(make_pool):
    pool = make_pool(pool_size=2, probe_interval=0.3, probe_timeout=0.5, reconnect_backoff=0.2)
    assert wait_until(lambda: all(i.ready for i in pool.instances), 20)
    hung, other = pool.instances
    pid = hung.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        assert wait_until(lambda: not hung.ready, 5), hung.health()
        assert "health probe" in hung.last_error
        for _ in range(3):  # chats go to the other instance meanwhile
            stream = pool.ask("still served", None)
            assert stream.instance_name == other.name and "".join(stream) == "You said: still served"
        assert wait_until(lambda: hung.ready and hung.process.pid != pid, 20), hung.health()
        assert hung.restarts == 1 and not procutil.pid_alive(pid)
    finally:
        if procutil.pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_second_pool_on_the_same_work_dir_refuses_and_names_the_first(make_pool, tmp_path):
    first = make_pool()
    second = LingmaPool(CoreSettings(bin="simulator", work_dir=str(tmp_path / "work")))
    with pytest.raises(errors.LingmaWorkDirBusyError, match=f"pid {os.getpid()}"):
        second.start()
    assert second.instances == []
    first.stop()
    lock = WorkDirLock(tmp_path / "work")
    lock.acquire()  # released on stop
    lock.release()


def test_lingma_gets_no_gateway_settings_or_secrets(make_pool, monkeypatch):
    monkeypatch.setenv("LINGMA_API_KEYS", "secret-key-1")
    monkeypatch.setenv("LINGMA_SIM_CHUNK_CHARS", "4")
    pool = make_pool()
    environ = Path(f"/proc/{pool.instances[0].process.pid}/environ").read_bytes()
    assert b"secret-key-1" not in environ and b"LINGMA_API_KEYS" not in environ
    assert b"LINGMA_SIM_CHUNK_CHARS=4" in environ
    assert procutil.child_environment({"LINGMA_ADMIN_KEY": "a", "PATH": "/bin"}) == {"PATH": "/bin"}


PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4"
         "DwABBAEAwS2OUAAAAABJRU5ErkJggg==")


def test_images_are_uploaded_and_their_urls_reach_chat_ask(make_pool):
    pool = make_pool()
    stream = pool.ask("what is this?", "dashscope_qwen_vl_max", images=(PIXEL, PIXEL))
    assert "".join(stream) == "You said: what is this? [2 image(s)]"
    state = sim_state(pool.instances[0])
    assert len(state["uploads"]) == 2 and all(u["success"] for u in state["uploads"])
    ask = state["asks"][-1]
    assert ask["imageUrls"] == [u["imageUrl"] for u in state["uploads"]]
    assert in_flight(pool) == [0]


def test_a_refused_upload_is_a_clear_error_naming_the_step(make_pool, monkeypatch):
    monkeypatch.setenv("LINGMA_SIM_IMAGE_UPLOAD", "fail")
    pool = make_pool()
    with pytest.raises(errors.LingmaUpstreamError, match=r"image/upload.*simulated upload failure"):
        pool.ask("what is this?", "dashscope_qwen_vl_max", images=(PIXEL,))
    assert in_flight(pool) == [0] and sim_state(pool.instances[0])["asks"] == []
