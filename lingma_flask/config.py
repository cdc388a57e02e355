"""Defaults and explicit casts for the API settings (the core's are in lingma/settings.py).

Every setting is a LINGMA_* environment variable (or a .env line); `from_prefixed_env` strips
the prefix and leaves each value a string, so each one is read here with settings_reader's
typed readers, whose SettingError names the variable.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from .apikeys import ApiKey
from .apikeys import check_unique
from .apikeys import read_keys
from .apikeys import read_keys_file
from .keylimits import KeyLimits
from .keylimits import parse_key_limits
from .lingma.settings import CoreSettings
from .settings_reader import SettingError
from .settings_reader import Settings
from .settings_reader import json_object
from .store.settings import StoreSettings

MIB = 1024 * 1024

# LINGMA_<KEY> -> default; LINGMA_WORKERS, LINGMA_WORKER_CONNECTIONS and LINGMA_GRACEFUL_TIMEOUT
# are read by gunicorn.conf.py and listed here so the README table has one source of truth.
DEFAULTS: dict[str, Any] = {
    "API_KEYS": None,
    # one key (or name:key) a line, read when the app is made (a HUP to gunicorn re-reads it)
    "API_KEYS_FILE": None,
    # JSON: {"<key name>|*": {"rpm", "concurrent", "daily_tokens", "weight"}}; absent: unlimited
    "KEY_LIMITS": None,
    "ADMIN_KEY": None,
    "CORS_ORIGINS": "",
    "MODEL_ALIASES": {},
    "MAX_BODY_BYTES": 16 * MIB,
    "BODY_TIMEOUT": 30.0,
    "WRITE_TIMEOUT": 30.0,
    "SSE_KEEPALIVE": 5.0,
    "REASONING": "separate",
    # a tool call still invalid after its repair turn: passed on as given, dropped, or a 502
    "INVALID_TOOL_CALLS": "pass",
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "json",
    # reverse proxies in front of the gateway whose X-Forwarded-For is believed (0: none)
    "TRUSTED_PROXIES": 0,
    "WORKERS": 1,
    "WORKER_CONNECTIONS": 2000,
    # seconds a stopping worker (reload, TERM) may take: chats get it less keepalive less 2 s
    "GRACEFUL_TIMEOUT": 25,
    # operator features (lingma_flask/ops/): metrics key, alert webhook and its rate limit
    "METRICS_KEY": None,
    "ALERT_WEBHOOK": None,
    "ALERT_INTERVAL": 300.0,
    # seconds a starting gateway may stay logged out before that alerts (it may still be
    # taking up its login)
    "ALERT_STARTUP_GRACE": 30.0,
}
REASONING_MODES = ("separate", "inline", "off")
INVALID_TOOL_CALLS = ("pass", "drop", "error")
LOG_FORMATS = ("json", "text")
LOG_LEVELS = tuple(logging.getLevelNamesMapping())  # the names logging's setLevel takes


@dataclasses.dataclass(frozen=True)
class ApiSettings:
    """The API's knobs, cast from Flask config."""

    api_keys: tuple[str, ...] = dataclasses.field(default=(), repr=False)  # the keys of `keys`, in order
    keys: tuple[ApiKey, ...] = ()    # each configured key with its name
    key_limits: KeyLimits = dataclasses.field(default_factory=KeyLimits)
    admin_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    model_aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)
    max_body_bytes: int = DEFAULTS["MAX_BODY_BYTES"]
    body_timeout: float = DEFAULTS["BODY_TIMEOUT"]
    write_timeout: float = DEFAULTS["WRITE_TIMEOUT"]
    total_timeout: float = 600.0
    sse_keepalive: float = DEFAULTS["SSE_KEEPALIVE"]
    reasoning: str = DEFAULTS["REASONING"]
    invalid_tool_calls: str = DEFAULTS["INVALID_TOOL_CALLS"]
    log_level: str = DEFAULTS["LOG_LEVEL"]
    log_format: str = DEFAULTS["LOG_FORMAT"]
    trusted_proxies: int = DEFAULTS["TRUSTED_PROXIES"]
    metrics_key: str | None = None
    alert_webhook: str | None = None
    alert_interval: float = DEFAULTS["ALERT_INTERVAL"]
    alert_startup_grace: float = DEFAULTS["ALERT_STARTUP_GRACE"]

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> ApiSettings:
        """Build the API settings from upper-case keys, casting each one."""
        read = Settings(config)
        keys = parse_api_keys(config.get("API_KEYS"), read.text("API_KEYS_FILE", None))
        return cls(
            api_keys=tuple(entry.key for entry in keys),
            keys=keys,
            key_limits=parse_key_limits(config.get("KEY_LIMITS"), {entry.name for entry in keys}),
            admin_key=read.text("ADMIN_KEY", None),
            cors_origins=read.items("CORS_ORIGINS"),
            model_aliases=parse_aliases(config.get("MODEL_ALIASES")),
            max_body_bytes=read.integer("MAX_BODY_BYTES", DEFAULTS["MAX_BODY_BYTES"]),
            body_timeout=read.number("BODY_TIMEOUT", DEFAULTS["BODY_TIMEOUT"]),
            write_timeout=read.number("WRITE_TIMEOUT", DEFAULTS["WRITE_TIMEOUT"]),
            total_timeout=read.number("TOTAL_TIMEOUT", cls.total_timeout),
            sse_keepalive=read.number("SSE_KEEPALIVE", DEFAULTS["SSE_KEEPALIVE"]),
            reasoning=read.choice("REASONING", REASONING_MODES),
            invalid_tool_calls=read.choice("INVALID_TOOL_CALLS", INVALID_TOOL_CALLS),
            log_level=read.choice("LOG_LEVEL", LOG_LEVELS, DEFAULTS["LOG_LEVEL"]),
            log_format=read.choice("LOG_FORMAT", LOG_FORMATS),
            trusted_proxies=read.integer("TRUSTED_PROXIES", DEFAULTS["TRUSTED_PROXIES"], minimum=0),
            metrics_key=read.text("METRICS_KEY", None),
            alert_webhook=read.text("ALERT_WEBHOOK", None),
            alert_interval=read.number("ALERT_INTERVAL", DEFAULTS["ALERT_INTERVAL"]),  # 0: no rate limit
            alert_startup_grace=read.number("ALERT_STARTUP_GRACE", DEFAULTS["ALERT_STARTUP_GRACE"]),
        )


def check_settings(values: Mapping[str, Any]) -> None:
    """Read every setting the app reads from `values`; raise SettingError at the first bad one.

    gunicorn.conf.py calls it in the master, so a bad value stops the start with one line
    before any worker boots, rather than with a traceback in each worker.
    """
    ApiSettings.from_mapping(values)
    CoreSettings.from_mapping(values)
    StoreSettings.from_mapping(values)


def secrets_of(settings: ApiSettings) -> list[str]:
    """The configured values no log line may show."""
    values = (*settings.api_keys, settings.admin_key, settings.metrics_key, settings.alert_webhook)
    return [value for value in values if value]


def parse_api_keys(value: Any, path: str | None = None) -> tuple[ApiKey, ...]:
    """Cast LINGMA_API_KEYS (comma-separated, read as given) and LINGMA_API_KEYS_FILE to keys.

    Each entry is `name:key` or a plain key (named by a fingerprint: apikeys.py). Unset means
    no keys (local clients only); set but holding no key is a mistake that would silently
    open the gateway, so it stops the start.
    """
    keys = read_keys(value)
    if value is not None and not keys:
        raise SettingError("API_KEYS", "LINGMA_API_KEYS is set but holds no key; give comma-separated"
                           " keys, or unset it to serve local clients only")
    if path is not None:
        return check_unique(keys + read_keys_file(path), "API_KEYS_FILE")
    return check_unique(keys, "API_KEYS")


def parse_aliases(value: Any) -> dict[str, str]:
    """Cast LINGMA_MODEL_ALIASES (a JSON object alias -> model key or display name)."""
    if value in (None, ""):
        return {}
    value = json_object(value)
    if value is None:
        raise SettingError("MODEL_ALIASES",
                           'LINGMA_MODEL_ALIASES must be a JSON object like {"gpt-4o": "qwen3-coder"}')
    return {str(alias): str(target) for alias, target in value.items()}
