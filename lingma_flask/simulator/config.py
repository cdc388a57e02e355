"""Process-wide knobs of the simulator, read once from `LINGMA_SIM_*` environment variables."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

DEFAULT_SOCKET_PORT = 37010
DEFAULT_HTTP_PORT = 37510
PROTOCOLS = ("classic", "acp")


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """Every `LINGMA_SIM_*` knob; the field name is the variable name without the prefix."""

    logged_in: bool = True            # create cache/id + cache/user at start if missing
    auth_expired: bool = False        # a logged-in account reports auth/status 3 (expired)
    ask_reply: str = "none"           # none | success | fail | error
    answer: str | None = None         # fixed answer text instead of "You said: ..."
    echo: str = "short"               # short: echo the last user turn (capped) | full: the prompt
    chunk_chars: int = 0              # characters per chat/answer chunk (0: by answer kind)
    chunks: int = 5                   # chunks of a short answer when chunk_chars is 0
    empty_every: int = 3              # an empty chunk after every K real chunks (0: never)
    first_token_delay: float = 0.05   # seconds from chat/ask to the first chat/answer
    chunk_delay: float = 0.01         # seconds between chunks
    stamp: bool = False               # add simSentNs (time.monotonic_ns) to every chat/answer
    stamp_text: bool = False          # also prefix every non-empty chunk's text with "|<ns>|"
    strict: bool = False              # hold each ask's next push until the previous one is acked
    ack_late: float = 1.0             # an ack older than this many seconds counts as late
    max_asks: int = 0                 # concurrent asks per process (0: unlimited)
    stop_mode: str = "finish"         # finish | silent
    fault: str = ""                   # marker body applied to every ask, e.g. "finish=429"
    unknown_model: str = "reject"     # reject (finish 40505) | accept
    tool_timeout: float = 5.0         # seconds to wait for tool/invokeResult
    start_delay: float = 0.0          # seconds before the port starts listening
    info_delay: float = 0.0           # seconds between listening and writing .info
    info_early: bool = False          # write .info before the port listens
    info_third_line: bool = False     # add an IPC-path third line to .info
    info_json: bool = False           # also write .info.json
    frame_log: bool = True            # log every frame to logs/frames.log
    state_limit: int = 1000           # how many asks/stops/tool results /sim/state keeps
    init: str = "ok"                  # ok | silent (initialize never answered) | error
    image_upload: str = "ok"          # ok | fail (every image/upload fails)
    image_max_bytes: int = 10 * 1024 * 1024  # decoded size limit of one uploaded image
    unknown_methods: str = ""         # comma-separated methods it answers "method not found"
                                      # (a build without them, e.g. "auth/logout")
    protocol: str = "classic"         # classic | acp (also serves session/*: simulator/acp.py)
    acp_init: str = "acp"             # acp: initialize answers protocolVersion | lsp: LSP-shaped
    acp_updates: str = "notification"  # session/update pushes as notification | request
    context_limit: int = 131072       # limitTokens of the ACP context_usage notification

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SimConfig:
        """Build the config from `LINGMA_SIM_<FIELD>` variables; unset ones keep defaults."""
        environ = os.environ if environ is None else environ
        values = {}
        for field in dataclasses.fields(cls):
            raw = environ.get("LINGMA_SIM_" + field.name.upper())
            if raw is None or raw.strip() == "":
                continue
            values[field.name] = _cast(field.default, raw)
        return cls(**values)


def _cast(default, raw: str):
    if default is None:
        return raw
    if isinstance(default, bool):
        return _flag(raw)
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw.strip()
