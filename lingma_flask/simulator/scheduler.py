"""One thread per connection that sends every due push of every ask on that connection.

Asks are `AskRun`s on a heap keyed by the time their next step is due. The thread sleeps on a
condition variable until the earliest due time (or a change), takes every run that is due,
advances each as far as its plan allows, and hands the whole batch of frames to the session
to write. Acks, stops and tool results arrive from the connection's reader thread.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import threading
import time

from ..lingma import methods as wire
from . import plan
from .plan import Step


class AskRun:
    """The progress of one ask through its plan."""

    def __init__(self, info: plan.AskInfo, scenario, steps: list[Step], start: float):
        self.info = info
        self.scenario = scenario
        self.steps = collections.deque(steps)
        self.due = start + (steps[0].delay if steps else 0.0)
        self.gen = 0
        self.parts: list[str] = []
        self.last_push: int | None = None
        self.tool: tuple[str, float] | None = None   # (toolCallId, started) while waiting

    @property
    def request_id(self) -> str:
        """The ask's requestId."""
        return self.info.request_id


class AckBook:
    """Push ids awaiting an ack, oldest first, with sent/acked/late counters."""

    def __init__(self, late_after: float):
        self.late_after = late_after
        self.pending: dict[int, float] = {}
        self.sent = self.acked = self.late = 0

    def add(self, push_id: int, now: float) -> None:
        """Record a push just sent."""
        self.pending[push_id] = now
        self.sent += 1

    def ack(self, push_id: int, now: float) -> bool:
        """Record an ack; False when the id was not awaiting one."""
        sent = self.pending.pop(push_id, None)
        if sent is None:
            return False
        self.acked += 1
        if now - sent > self.late_after:
            self.late += 1
        return True

    def overdue(self, now: float) -> int:
        """Unacked pushes older than `late_after` (walks from the oldest, stops early)."""
        count = 0
        for sent in self.pending.values():
            if now - sent <= self.late_after:
                break
            count += 1
        return count

    def counts(self, now: float) -> dict:
        """{"sent", "acked", "missing", "late"} for this book."""
        return {"sent": self.sent, "acked": self.acked, "missing": len(self.pending),
                "late": self.late + self.overdue(now)}


class Scheduler:
    """The push scheduler of one connection (see the module docstring)."""

    def __init__(self, session, *, strict: bool, late_after: float, tool_timeout: float):
        self.session = session
        self.strict = strict
        self.tool_timeout = tool_timeout
        self.acks = AckBook(late_after)
        self.runs: dict[str, AskRun] = {}
        self._cond = threading.Condition()
        self._heap: list = []
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self._parked: dict[int, AskRun] = {}
        self._tools: dict[str, AskRun] = {}
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="sim-scheduler", daemon=True)

    def start(self) -> None:
        """Start the scheduler thread."""
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and forget every ask (state is lost on disconnect)."""
        with self._cond:
            self._closed = True
            self.runs.clear()
            self._heap.clear()
            self._cond.notify()

    def reset_acks(self) -> None:
        """Zero the ack counters (`/sim/reset`)."""
        with self._cond:
            self.acks = AckBook(self.acks.late_after)

    # called from the reader thread ------------------------------------------------
    def add(self, run: AskRun) -> None:
        """Schedule a new ask."""
        with self._cond:
            if self._closed:
                return
            self.runs[run.request_id] = run
            self._push(run)
            self._cond.notify()

    def active(self) -> int:
        """Asks started and not finished (stalled ones included)."""
        return len(self.runs)

    def on_ack(self, push_id) -> None:
        """A response to one of our pushes arrived."""
        if not isinstance(push_id, int):
            return
        with self._cond:
            now = time.monotonic()
            self.acks.ack(push_id, now)
            run = self._parked.pop(push_id, None)
            if run is not None and run.steps:
                run.due = max(run.due, now)
                self._push(run)
                self._cond.notify()

    def send_now(self, method: str, params: dict) -> bool:
        """Send one push outside any ask (acks are tracked); False when the socket is gone."""
        with self._cond:
            if self._closed:
                return False
            push_id = next(self._ids)
            self.acks.add(push_id, time.monotonic())
        message = {"jsonrpc": "2.0", "id": push_id, "method": method, "params": params}
        return self.session.send_message(message)

    def request_of(self, session_id: str) -> str | None:
        """The requestId of the active ask of a session (ACP's `session/cancel` names the session)."""
        with self._cond:
            for run in self.runs.values():
                if run.info.session_id == session_id:
                    return run.request_id
        return None

    def stop(self, request_id: str) -> bool:
        """`chat/stop`: end the ask's stream; False when no such ask is active."""
        with self._cond:
            run = self.runs.get(request_id)
            if run is None:
                return False
            run.steps.clear()
            self._drop_tool_wait(run)
            if run.scenario.stop_mode == "silent":
                self._forget(run)
                return True
            full = "".join(run.parts)
            params = plan.finish_params(run.info, 200, "cancelled", full)
            run.steps.append(plan.push(0.0, wire.CHAT_FINISH, params))
            run.due = time.monotonic()
            if run.last_push not in self._parked:
                self._push(run)
            self._cond.notify()
            return True

    def tool_result(self, tool_call_id) -> tuple[str, float] | None:
        """`tool/invokeResult` arrived: resume the waiting ask; return (requestId, waited)."""
        with self._cond:
            run = self._tools.pop(tool_call_id, None)
            if run is None or run.tool is None:  # a run is in _tools only while its tool is set
                return None
            if run.steps and run.steps[0].kind == "toolwait":
                run.steps.popleft()
            now = time.monotonic()
            waited = now - run.tool[1]
            run.tool = None
            run.due = now
            if run.last_push not in self._parked:
                self._push(run)
            self._cond.notify()
            return run.request_id, waited

    # scheduler thread ----------------------------------------------------------------
    def _push(self, run: AskRun) -> None:
        run.gen += 1
        heapq.heappush(self._heap, (run.due, next(self._seq), run.gen, run))

    def _forget(self, run: AskRun) -> None:
        run.gen += 1
        run.steps.clear()
        self.runs.pop(run.request_id, None)

    def _drop_tool_wait(self, run: AskRun) -> None:
        if run.tool is not None:
            self._tools.pop(run.tool[0], None)
            run.tool = None

    def _loop(self) -> None:
        while True:
            batch = self._collect()
            if batch is None:
                return
            if batch and not self.session.send_batch(batch):
                self.close()
                return

    def _collect(self):
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                if self._heap and self._heap[0][0] <= now:
                    break
                timeout = self._heap[0][0] - now if self._heap else 5.0
                self._cond.wait(min(timeout, 5.0))
            if self._closed:
                return None
            return self._take_due(now)

    def _take_due(self, now: float) -> list:
        out: list = []
        while self._heap and self._heap[0][0] <= now:
            _, _, gen, run = heapq.heappop(self._heap)
            if gen == run.gen:
                self._advance(run, now, out)
        return out

    def _advance(self, run: AskRun, now: float, out: list) -> None:
        while run.steps:
            if self.strict and run.last_push in self.acks.pending:
                self._parked[run.last_push] = run
                return
            if run.due > now:
                self._push(run)
                return
            step = run.steps.popleft()
            self._execute(run, step, now, out)
            if run.steps:
                run.due += run.steps[0].delay

    def _execute(self, run: AskRun, step: Step, now: float, out: list) -> None:
        kind = step.kind
        if kind == "push":
            self._send_push(run, step, now, out)
        elif kind == "tool":
            self._send_push(run, step, now, out)
            run.tool = (step.message()[1]["toolCallId"], now)
            self._tools[run.tool[0]] = run
            run.steps.appendleft(Step(self.tool_timeout, "toolwait"))
        elif kind == "toolwait" and run.tool is not None:  # tool_result drops the step with the tool
            self._tools.pop(run.tool[0], None)
            out.append(("tool_timeout", run.request_id, run.tool[0], now - run.tool[1]))
            run.tool = None
        elif kind in ("garbage", "crash", "drop"):
            out.append((kind,))
        # "stall": nothing more is sent; the run stays active until stop or disconnect

    def _send_push(self, run: AskRun, step: Step, now: float, out: list) -> None:
        method, params = step.message()
        if method in (wire.CHAT_ANSWER, wire.CHAT_THINK):
            params["timestamp"] = int(time.time() * 1000)
        if method == wire.CHAT_ANSWER:
            run.parts.append(params["text"])
        dialect = run.info.dialect
        if dialect is None:
            messages = [({"method": method, "params": params}, True)]
        else:
            messages = dialect.translate(method, params)
        for body, tracked in messages:
            if tracked:  # a request: it gets an id, and its ack is awaited
                push_id = next(self._ids)
                self.acks.add(push_id, now)
                run.last_push = push_id
                message = {"jsonrpc": "2.0", "id": push_id, **body}
            else:
                message = {"jsonrpc": "2.0", **body}
            out.append(("push", message, run.scenario))
        if method == wire.CHAT_FINISH:
            self.runs.pop(run.request_id, None)
