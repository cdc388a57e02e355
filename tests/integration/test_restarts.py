"""Restarts and deploys under steady load fail no request.

A request that arrives while Lingma is starting, reconnecting or respawning waits for it; a
gunicorn reload (HUP) lets old workers finish their chats while new ones start; a rolling
restart of the workers (one SIGTERM at a time) goes unnoticed by clients.
"""

import json
import os
import signal
import threading

import pytest
import requests

from lingma_flask.lingma.instance import wait_until
from tests.integration.gateway import API_KEY
from tests.integration.gateway import Gateway

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {API_KEY}"}
PROMPT = "steady [[sim:len=120,chunks=8,delay=0.05]]"


def one_chat(url: str, stream: bool) -> str | None:
    """Run one chat on a fresh connection; return None if it succeeded, else what went wrong."""
    try:
        resp = requests.post(url + "/v1/chat/completions", headers=AUTH, timeout=60, stream=stream,
                             json={"model": "auto", "stream": stream,
                                   "messages": [{"role": "user", "content": PROMPT}]})
        if resp.status_code != 200:
            return f"HTTP {resp.status_code}: {resp.text[:200]}"
        if not stream:
            return None if len(resp.json()["choices"][0]["message"]["content"]) == 120 else "short answer"
        lines = [line for line in resp.iter_lines(decode_unicode=True) if line.startswith("data:")]
        if lines[-1] != "data: [DONE]":
            return f"stream ended with {lines[-1][:200]}"
        text = "".join(json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
                       for line in lines[:-1] if json.loads(line[6:]).get("choices"))
        return None if len(text) == 120 else f"short stream ({len(text)})"
    except (requests.RequestException, ValueError, KeyError, IndexError) as exc:
        return f"{type(exc).__name__}: {exc}"


class Load:
    """A few clients chatting non-stop (streamed and not), counting what failed."""

    def __init__(self, url: str, clients: int = 4):
        self.url, self.done, self.failures = url, 0, []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i % 2 == 0,)) for i in range(clients)]

    def _run(self, stream: bool) -> None:
        while not self._stop.is_set():
            failure = one_chat(self.url, stream)
            self.done += 1
            if failure:
                self.failures.append(failure)

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(90)


def workers_of(gw) -> set[int]:
    """The master's worker pids."""
    found = set()
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if entry.isdigit() and int(stat.read().rsplit(")", 1)[1].split()[1]) == gw.proc.pid:
                    found.add(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return found


@pytest.fixture
def gw(tmp_path):
    gateway = Gateway(tmp_path / "work", LINGMA_WORKERS="2", LINGMA_SIM_FIRST_TOKEN_DELAY="0.05").start()
    yield gateway
    gateway.stop()


def reload_under_load(gw, served_after: int) -> None:
    """HUP a 2-worker gateway under load; its new workers serve `served_after` more; none fails."""
    assert wait_until(lambda: len(workers_of(gw)) == 2, 30)
    old = workers_of(gw)
    with Load(gw.url) as load:
        assert wait_until(lambda: load.done >= 8, 30)
        gw.proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: len(workers_of(gw) - old) == 2 and not workers_of(gw) & old, 60)
        served = load.done
        assert wait_until(lambda: load.done >= served + served_after, 60)  # the new workers serve
    assert load.failures == [], load.failures[:5]


def test_a_reload_under_load_fails_no_request(gw):
    reload_under_load(gw, served_after=12)


def test_a_rolling_restart_of_the_workers_fails_no_request(gw):
    assert wait_until(lambda: len(workers_of(gw)) == 2, 30)
    with Load(gw.url) as load:
        for worker in sorted(workers_of(gw)):
            before = workers_of(gw)
            served = load.done
            os.kill(worker, signal.SIGTERM)
            assert wait_until(lambda before=before, worker=worker: len(workers_of(gw) - before) == 1
                              and worker not in workers_of(gw), 60)
            assert wait_until(lambda served=served: load.done >= served + 8, 60)
    assert load.failures == [], load.failures[:5]


def test_a_request_during_a_respawn_waits_instead_of_failing(gw):
    pids = gw.lingma_pids()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)  # both workers' Lingmas crash at once
    failures = [one_chat(gw.url, stream) for stream in (False, True, False, True)]
    assert failures == [None] * 4
    assert set(gw.lingma_pids()).isdisjoint(pids) or wait_until(lambda: set(gw.lingma_pids()).isdisjoint(pids), 30)
