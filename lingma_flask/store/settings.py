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


@dataclasses.dataclass(frozen=True)
class StoreSettings:
    """Whether the store runs, where, and how it batches, buffers and forgets."""

    enabled: bool = True                        # LINGMA_STORE=on|off
    url: str | None = None                      # LINGMA_DATABASE_URL (DATABASE_URL: see url.py)
    interval: float = DEFAULT_INTERVAL          # LINGMA_STORE_INTERVAL: seconds between flushes
    buffer: int = DEFAULT_BUFFER                # LINGMA_STORE_BUFFER: rows kept per worker while unwritten
    history_days: int = DEFAULT_HISTORY_DAYS    # LINGMA_HISTORY_DAYS: usage older than this is deleted
    log_prompts: bool = False                   # LINGMA_LOG_PROMPTS: keep each request's last user message

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
        return cls(
            enabled=read.flag("STORE", True),
            url=url,
            interval=interval,
            buffer=read.integer("STORE_BUFFER", DEFAULT_BUFFER, 1),
            history_days=read.integer("HISTORY_DAYS", DEFAULT_HISTORY_DAYS, 1),
            log_prompts=read.flag("LOG_PROMPTS", False),
        )
