"""The Lingma core's configuration: one dataclass, built from Flask config or the environment."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from typing import Literal

from ..settings_reader import Settings
from ..settings_reader import environment

MIB = 1024 * 1024
# LINGMA_PROTOCOL: how the gateway talks to a Lingma (lingma/acp.py): `auto` detects it at connect
LingmaProtocol = Literal["auto", "classic", "acp"]
PROTOCOLS: tuple[LingmaProtocol, ...] = ("auto", "classic", "acp")


def default_work_dir() -> Path:
    """Return the folder that holds the work dirs when LINGMA_WORK_DIR is not set."""
    # imported here: gunicorn's master reads these settings, and imports only the stdlib
    import platformdirs

    return Path(platformdirs.user_data_dir("lingma-flask", appauthor=False)) / "work"


@dataclasses.dataclass(frozen=True)
class CoreSettings:
    """Every knob of the Lingma core; field names match the LINGMA_* variables without prefix."""

    bin: str | None = None                 # LINGMA_BIN: path, or "simulator"
    work_dir: str | None = None            # LINGMA_WORK_DIR
    socket_port: int | None = None         # LINGMA_SOCKET_PORT: attach to a running Lingma
    attach: str | None = None              # LINGMA_ATTACH: auto, a port or a Unix socket (attach.py)
    login_from: str | None = None          # LINGMA_LOGIN_FROM: cache/ to seed logins from
    startup_timeout: float = 30.0
    rpc_timeout: float = 15.0
    first_token_timeout: float = 60.0
    idle_timeout: float = 60.0
    total_timeout: float = 600.0
    max_frame_bytes: int = 16 * MIB
    max_prompt_chars: int = 1_000_000      # larger prompts are refused before they reach Lingma
    stream_buffer_bytes: int = 4 * MIB     # answer text that may wait for a slow client
    pool_size: int = 1
    max_concurrency: int = 4
    queue_timeout: float = 10.0
    ask_mode: str = "chat"
    auto_memory: bool = False
    models_refresh: float = 300.0
    probe_interval: float = 10.0           # a Lingma silent this long gets a health probe
    probe_timeout: float = 5.0             # a probe unanswered this long means Lingma hangs
    reconnect_attempts: int = 8
    reconnect_backoff: float = 1.0         # the first wait before a reconnect; doubles, to 30 s
    machine_token: str | None = None       # optional Cosy-MachineToken header (Qoder CN)
    login_dir: str | None = None           # the shared login folder (default <work root>/login)
    protocol: LingmaProtocol = "auto"      # classic chat/ask, ACP-style session/prompt, or detect

    def __post_init__(self) -> None:
        from .attach import target  # checks LINGMA_ATTACH against LINGMA_SOCKET_PORT

        target(self)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> CoreSettings:
        """Build settings from upper-case keys (Flask config after `from_prefixed_env`).

        A field's type says how its value is read; a bad value raises SettingError.
        """
        read = Settings(mapping)
        return cls(**{field.name: _READERS[str(field.type)](read, field.name.upper(), field.default)
                      for field in dataclasses.fields(cls)})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CoreSettings:
        """Build settings from LINGMA_* environment variables."""
        return cls.from_mapping(environment(environ, dotenv=False))

    def replace(self, **changes: Any) -> CoreSettings:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def work_root(self) -> Path:
        """Return the folder under which each instance gets its own work dir."""
        return Path(self.work_dir).expanduser() if self.work_dir else default_work_dir()

    def login_root(self) -> Path:
        """Return the login folder shared by every instance and worker of this gateway."""
        return Path(self.login_dir).expanduser() if self.login_dir else self.work_root() / "login"

    def describe(self) -> str:
        """Return the settings as JSON for logs (nothing secret in here but the token)."""
        data = dataclasses.asdict(self)
        if data.get("machine_token"):
            data["machine_token"] = "***"
        return json.dumps(data, sort_keys=True)


# CoreSettings field type (as written there) -> its reader
_READERS: dict[str, Callable[[Settings, str, Any], Any]] = {
    "int": Settings.integer, "int | None": Settings.integer, "float": Settings.number,
    "bool": Settings.flag, "str": Settings.text, "str | None": Settings.text,
    "LingmaProtocol": lambda read, name, default: read.choice(name, PROTOCOLS, default),
}
