"""The store's settings (LINGMA_STORE, LINGMA_STORE_INTERVAL, ...), read the way every setting is.

gunicorn's master reads them before it forks (config.check_settings), so this module imports
only the stdlib and settings_reader.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..settings_reader import SettingError
from ..settings_reader import Settings
from ..settings_reader import expected

DEFAULT_INTERVAL = 1.0
DEFAULT_BUFFER = 10_000
DEFAULT_HISTORY_DAYS = 30
MAX_INTERVAL = 3600
DEFAULT_STATE_TTL = 24 * 3600            # seconds a shared response or thread message is kept
DEFAULT_STATE_MAX_BYTES = 8 * 1024 * 1024   # a shared value's JSON; past it, not shared
SHARE_LOGIN = ("off", "db")   # LINGMA_SHARE_LOGIN: whether hosts share one Lingma login
MIN_SECRET_CHARS = 16         # of LINGMA_SECRET_KEY when it encrypts the shared login


@dataclasses.dataclass(frozen=True)
class StoreSettings:
    """Whether the store runs, where, and how it batches, buffers and forgets."""

    enabled: bool = True                        # LINGMA_STORE=on|off
    url: str | None = None                      # LINGMA_DATABASE_URL (DATABASE_URL: see url.py)
    interval: float = DEFAULT_INTERVAL          # LINGMA_STORE_INTERVAL: seconds between flushes
    buffer: int = DEFAULT_BUFFER                # LINGMA_STORE_BUFFER: rows kept per worker while unwritten
    history_days: int = DEFAULT_HISTORY_DAYS    # LINGMA_HISTORY_DAYS: usage older than this is deleted
    log_prompts: bool = False                   # LINGMA_LOG_PROMPTS: keep each request's last user message
    state_ttl: int = DEFAULT_STATE_TTL          # LINGMA_STATE_TTL: seconds shared state is kept
    state_max_bytes: int = DEFAULT_STATE_MAX_BYTES  # LINGMA_STATE_MAX_BYTES: largest shared value
    share_login: bool = False                   # LINGMA_SHARE_LOGIN=db: one Lingma login for every host
    host_name: str | None = None                # LINGMA_HOST_NAME: this host in usage and heartbeats

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> StoreSettings:
        """Read the settings from upper-case keys without the prefix (Flask config, environment())."""
        read = Settings(config)
        interval = read.number("STORE_INTERVAL", DEFAULT_INTERVAL)
        if not 0 < interval <= MAX_INTERVAL:
            raise expected("STORE_INTERVAL", f"a number of seconds above 0 and at most {MAX_INTERVAL}",
                           config.get("STORE_INTERVAL"))
        url = read.text("DATABASE_URL", None)
        if url is not None and "://" not in url:   # the message never repeats it: it may hold a password
            raise SettingError("DATABASE_URL", "LINGMA_DATABASE_URL must be a database URL such as"
                               " postgresql://user:password@host:5432/database")
        enabled = read.flag("STORE", True)
        share_login = read.choice("SHARE_LOGIN", SHARE_LOGIN) == "db"
        if share_login:
            check_share_login(read, enabled)
        return cls(
            enabled=enabled,
            url=url,
            interval=interval,
            buffer=read.integer("STORE_BUFFER", DEFAULT_BUFFER, 1),
            history_days=read.integer("HISTORY_DAYS", DEFAULT_HISTORY_DAYS, 1),
            log_prompts=read.flag("LOG_PROMPTS", False),
            state_ttl=read.integer("STATE_TTL", DEFAULT_STATE_TTL, 1),
            state_max_bytes=read.integer("STATE_MAX_BYTES", DEFAULT_STATE_MAX_BYTES, 1),
            share_login=share_login,
            host_name=read.text("HOST_NAME", None),
        )


def check_share_login(read: Settings, enabled: bool) -> None:
    """LINGMA_SHARE_LOGIN=db needs the store, and LINGMA_SECRET_KEY to encrypt the login with."""
    if not enabled:
        raise SettingError("SHARE_LOGIN", "LINGMA_SHARE_LOGIN=db shares the login through the store's"
                           " database, but LINGMA_STORE is off")
    secret = read.text("SECRET_KEY", None)
    if secret is None or len(secret) < MIN_SECRET_CHARS:   # the message never repeats it
        raise SettingError("SECRET_KEY", "LINGMA_SHARE_LOGIN=db needs LINGMA_SECRET_KEY, the key the"
                           f" shared login is encrypted with: at least {MIN_SECRET_CHARS} characters, the"
                           " same on every host (e.g. python -c 'import secrets;"
                           " print(secrets.token_urlsafe(32))')")
