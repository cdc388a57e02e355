"""The faults of the matrix: how each is caused, and what the README documents for it.

A per-ask fault is a simulator marker in the prompt (docs/simulator.md); those share one
gateway. A process-level fault is simulator or gateway environment and gets a gateway of its
own, asked at once (`at_start`) or once Lingma is up. `limit` names the configured timeout
that bounds the failure; `lift` names what ends a lasting fault before the recovery request.
"""

from __future__ import annotations

import dataclasses

from tests.integration.faultfaces import OK
from tests.integration.faultfaces import Expect

# The gateway every group starts from: short timeouts so each timeout cell takes seconds, and
# a short first reconnect, so a disruptive cell does not wait out a 1 s backoff (twice).
SETTINGS = {
    "LINGMA_FIRST_TOKEN_TIMEOUT": "2", "LINGMA_IDLE_TIMEOUT": "2", "LINGMA_STARTUP_TIMEOUT": "10",
    "LINGMA_RPC_TIMEOUT": "2", "LINGMA_PROBE_INTERVAL": "1", "LINGMA_PROBE_TIMEOUT": "2",
    "LINGMA_TOTAL_TIMEOUT": "30", "LINGMA_QUEUE_TIMEOUT": "5", "LINGMA_SSE_KEEPALIVE": "0.5",
    "LINGMA_MAX_FRAME_BYTES": "65536", "LINGMA_RECONNECT_BACKOFF": "0.2",
}
# A failing start is retried at a doubling backoff: from 0.2 s its attempts thin out (6.2 s,
# then 12.6 s) just when a lifted `initialize` fault waits for the next one; the default's
# attempt at 7 s keeps that recovery within its limit.
DEFAULT_BACKOFF = ("LINGMA_RECONNECT_BACKOFF", "1")
SLACK = 1.5          # seconds a loaded 2-core machine may add to a configured timeout

RETRY, NO_RETRY = ("Retry-After",), ("x-should-retry: false",)   # web/apierror.py's RETRY_ADVICE
UPSTREAM = Expect(502, "lingma_upstream_error")
CONNECTION = Expect(502, "lingma_connection_error")
TIMEOUT = Expect(504, "lingma_timeout")
FILTERED = Expect(400, "content_filter", headers=NO_RETRY)   # the same prompt is filtered again
NOT_READY = Expect(503, "lingma_not_ready", headers=RETRY)
NOT_LOGGED_IN = Expect(503, "lingma_not_logged_in", headers=NO_RETRY)
QUOTA = Expect(429, "insufficient_quota", headers=NO_RETRY)


@dataclasses.dataclass(frozen=True)
class Fault:
    """One row group of the matrix: a fault, how to cause it, what must come of it."""

    name: str
    expect: Expect
    marker: str = ""             # simulator marker body put in the prompt
    env: tuple = ()              # (name, value) pairs for the fault's own gateway
    limit: str = "immediate"     # immediate | first_token | idle | startup | startup_wait
    disruptive: bool = False     # ends Lingma's connection: its cells run one at a time
    at_start: bool = False       # ask while the gateway is still starting its Lingma
    lift: str = ""               # "login" / "init": what ends the fault before recovery;
                                 # "never": nothing can at run time (no recovery is measured)

    @property
    def process_level(self) -> bool:
        """True when the fault needs a gateway of its own."""
        return bool(self.env)

    def prompt(self, label: str) -> str:
        """A prompt for one cell, carrying the marker."""
        return f"{label} [[sim:{self.marker}]]" if self.marker else label


def seconds(name: str, env: dict) -> float:
    """A timeout of the group's gateway, in seconds."""
    return float(env[name])


def fail_window(fault: Fault, env: dict) -> tuple[float, float]:
    """(earliest, latest) seconds after the request at which its outcome may arrive."""
    first, idle = seconds("LINGMA_FIRST_TOKEN_TIMEOUT", env), seconds("LINGMA_IDLE_TIMEOUT", env)
    startup = seconds("LINGMA_STARTUP_TIMEOUT", env)
    return {
        "immediate": (0.0, first),                      # reported before any timeout could fire
        "first_token": (first, first + SLACK),
        "idle": (idle, idle + SLACK),
        "startup": (0.0, startup + SLACK),              # waits for a starting Lingma, then answers
        "startup_wait": (startup * 0.9, startup + SLACK),  # waits the whole startup timeout, fails
    }[fault.limit]


def silence_limit(env: dict) -> float:
    """The longest a started stream may stay silent: a keepalive is due every interval."""
    return seconds("LINGMA_SSE_KEEPALIVE", env) + SLACK


def recover_limit(fault: Fault, env: dict) -> float:
    """Seconds from the failure (or the fault's end) to a succeeded ordinary request."""
    if fault.disruptive or fault.lift:
        return seconds("LINGMA_STARTUP_TIMEOUT", env) + SLACK  # a reconnect or respawn
    return seconds("LINGMA_FIRST_TOKEN_TIMEOUT", env)


def finish(code: int, reason: str = "", partial: int = 0) -> str:
    """The marker of a `chat/finish` with `code` (and a reason, and chunks before it)."""
    marker = f"finish={code}" + (f",reason={reason}" if reason else "")
    return marker + (f",partial={partial}" if partial else "")


PER_ASK = (
    Fault("crash mid-stream", CONNECTION, "crash=2", disruptive=True),
    Fault("dropped socket mid-stream", CONNECTION, "drop=2", disruptive=True),
    Fault("oversized frame", Expect(502, "lingma_protocol_error"), "len=70000,chunk=70000",
          disruptive=True),
    Fault("stall before the first token", TIMEOUT, "stall", limit="first_token"),
    Fault("stall, chat/stop ignored", TIMEOUT, "stall,stopmode=silent", limit="first_token"),
    Fault("stall after the first token", TIMEOUT, "stall_after=2", limit="idle"),
    Fault("garbage frames", OK, "garbage"),
    Fault("split frames", OK, "split"),
    Fault("coalesced frames", OK, "coalesce"),
    Fault("text only in fullAnswer", OK, "empty_then_full"),
    Fault("chat/ask reply: none", OK, "reply=none"),
    Fault("chat/ask reply: success", OK, "reply=success"),
    Fault("chat/ask reply: fail", UPSTREAM, "reply=fail"),
    Fault("chat/ask reply: error", UPSTREAM, "reply=error"),
    Fault("finish 400", UPSTREAM, finish(400)),
    Fault("finish 401", NOT_LOGGED_IN, finish(401)),
    Fault("finish 403 quota", QUOTA, finish(403)),
    Fault("finish 403 other", Expect(403, "lingma_forbidden", headers=NO_RETRY),
          finish(403, "account_disabled")),
    Fault("finish 406", FILTERED, finish(406)),
    Fault("finish 406 after text", Expect(200, "content_filter"), finish(406, partial=2)),
    Fault("finish 408", TIMEOUT, finish(408)),
    Fault("finish 429", Expect(429, "rate_limit_exceeded"), finish(429)),
    Fault("finish 429 quota", QUOTA, finish(429, "quota_exceeded")),
    Fault("finish 500", UPSTREAM, finish(500)),
    Fault("finish 500 after text", UPSTREAM, finish(500, partial=2)),
    Fault("finish 601", FILTERED, finish(601)),
    Fault("finish 31404", UPSTREAM, finish(31404)),
    Fault("finish 40505", UPSTREAM, finish(40505)),
)

PROCESS = (
    Fault("slow start (3 s)", OK, env=(("LINGMA_SIM_START_DELAY", "3"),), limit="startup",
          at_start=True),
    Fault("slow start over LINGMA_STARTUP_TIMEOUT", NOT_READY,
          env=(("LINGMA_SIM_START_DELAY", "4"), ("LINGMA_STARTUP_TIMEOUT", "2")),
          limit="startup_wait", at_start=True, lift="never"),
    Fault(".info before the port listens", OK,
          env=(("LINGMA_SIM_INFO_EARLY", "1"), ("LINGMA_SIM_START_DELAY", "2")),
          limit="startup", at_start=True),
    Fault("initialize never answered", NOT_READY,
          env=(("LINGMA_SIM_INIT", "silent"), ("LINGMA_STARTUP_TIMEOUT", "5"),
               ("LINGMA_RPC_TIMEOUT", "1"), DEFAULT_BACKOFF),
          limit="startup_wait", at_start=True, lift="init"),
    Fault("initialize fails", NOT_READY,
          env=(("LINGMA_SIM_INIT", "error"), ("LINGMA_STARTUP_TIMEOUT", "5"), DEFAULT_BACKOFF),
          limit="startup_wait", at_start=True, lift="init"),
    Fault("logged out", Expect(503, "lingma_not_logged_in", early=True, headers=NO_RETRY),
          env=(("LINGMA_SIM_LOGGED_IN", "0"),), lift="login"),
    Fault("strict acks", OK, "chunks=20", env=(("LINGMA_SIM_STRICT", "1"),)),
)

# The matrix again on the desktop's ACP-style API (test_fault_matrix.py's `_on_acp` tests): the
# simulator speaks it, with session/update sent as requests so that acks and strict mode matter,
# and the gateway detects it. The whole matrix would double the file's time (70 s more), so a
# representative part runs: every per-ask fault but those whose path is the same on either
# protocol and slow (one-at-a-time reconnects: the socket dropped is the crash's path, the frame
# limit is the reader's; chat/stop ignored is the stall's), and the process faults whose path
# differs on ACP (the login read, the acks; a failing `initialize` never reaches the choice).
ACP = {"LINGMA_SIM_PROTOCOL": "acp", "LINGMA_SIM_ACP_UPDATES": "request"}
ACP_SAME_PATH = ("dropped socket mid-stream", "oversized frame", "stall, chat/stop ignored")
ACP_PER_ASK = tuple(f for f in PER_ASK if f.name not in ACP_SAME_PATH)
ACP_PROCESS = tuple(f for f in PROCESS if f.name in ("logged out", "strict acks"))
