"""Defaults and explicit casts for the API settings (the core's are in lingma/settings.py).

Every setting is a LINGMA_* environment variable (or a .env line); `from_prefixed_env` strips
the prefix and leaves each value a string, so each one is cast here before use.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from .lingma.settings import cast_setting

MIB = 1024 * 1024

# LINGMA_<KEY> -> default; LINGMA_WORKERS and LINGMA_WORKER_CONNECTIONS are read by
# gunicorn.conf.py and listed here so the README table has one source of truth.
DEFAULTS: dict[str, Any] = {
    "API_KEYS": None,
    "ADMIN_KEY": None,
    "CORS_ORIGINS": "",
    "MODEL_ALIASES": {},
    "MAX_BODY_BYTES": 16 * MIB,
    "BODY_TIMEOUT": 30.0,
    "WRITE_TIMEOUT": 30.0,
    "SSE_KEEPALIVE": 5.0,
    "REASONING": "separate",
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "json",
    "WORKERS": 1,
    "WORKER_CONNECTIONS": 2000,
    # operator features (lingma_flask/ops/): metrics key, alert webhook and its rate limit
    "METRICS_KEY": None,
    "ALERT_WEBHOOK": None,
    "ALERT_INTERVAL": 300.0,
}
REASONING_MODES = ("separate", "inline", "off")
LOG_FORMATS = ("json", "text")


@dataclasses.dataclass(frozen=True)
class ApiSettings:
    """The API's knobs, cast from Flask config."""

    api_keys: tuple[str, ...] = ()
    admin_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    model_aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)
    max_body_bytes: int = DEFAULTS["MAX_BODY_BYTES"]
    body_timeout: float = DEFAULTS["BODY_TIMEOUT"]
    write_timeout: float = DEFAULTS["WRITE_TIMEOUT"]
    total_timeout: float = 600.0
    sse_keepalive: float = DEFAULTS["SSE_KEEPALIVE"]
    reasoning: str = DEFAULTS["REASONING"]
    log_level: str = DEFAULTS["LOG_LEVEL"]
    log_format: str = DEFAULTS["LOG_FORMAT"]
    metrics_key: str | None = None
    alert_webhook: str | None = None
    alert_interval: float = DEFAULTS["ALERT_INTERVAL"]

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> ApiSettings:
        """Build the API settings from upper-case keys, casting each one."""
        def number(key, cast=float):
            value = config.get(key)
            return cast_setting(key, DEFAULTS[key] if value in (None, "") else value, cast)
        return cls(
            api_keys=parse_api_keys(config.get("API_KEYS")),
            admin_key=_opt_str(config.get("ADMIN_KEY")),
            cors_origins=parse_list(config.get("CORS_ORIGINS")),
            model_aliases=parse_aliases(config.get("MODEL_ALIASES")),
            max_body_bytes=number("MAX_BODY_BYTES", int),
            body_timeout=number("BODY_TIMEOUT"),
            write_timeout=number("WRITE_TIMEOUT"),
            total_timeout=cast_setting("TOTAL_TIMEOUT", config.get("TOTAL_TIMEOUT") or 600.0, float),
            sse_keepalive=number("SSE_KEEPALIVE"),
            reasoning=parse_choice("REASONING", config.get("REASONING"), REASONING_MODES),
            log_level=str(config.get("LOG_LEVEL") or "INFO").upper(),
            log_format=parse_choice("LOG_FORMAT", config.get("LOG_FORMAT"), LOG_FORMATS),
            metrics_key=_opt_str(config.get("METRICS_KEY")),
            alert_webhook=_opt_str(config.get("ALERT_WEBHOOK")),
            alert_interval=number("ALERT_INTERVAL"),  # 0 is allowed: no rate limit
        )


def secrets_of(settings: ApiSettings) -> list[str]:
    """The configured values no log line may show."""
    values = (*settings.api_keys, settings.admin_key, settings.metrics_key, settings.alert_webhook)
    return [value for value in values if value]


def _opt_str(value: Any) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None


def parse_list(value: Any) -> tuple[str, ...]:
    """Cast a comma-separated setting (or a list) to a tuple of non-empty strings."""
    if value is None:
        return ()
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return tuple(item for item in (str(i).strip() for i in items) if item)


def parse_api_keys(value: Any) -> tuple[str, ...]:
    """Cast LINGMA_API_KEYS (comma-separated, read as given) to a tuple of keys.

    Unset means no keys (local clients only); set but holding no key is a mistake that
    would silently open the gateway, so it stops the start.
    """
    keys = parse_list(value)
    if value is not None and not keys:
        raise ValueError("LINGMA_API_KEYS is set but holds no key; give comma-separated keys,"
                         " or unset it to serve local clients only")
    return keys


def parse_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """Cast a setting that must be one of `choices` (the first is the default)."""
    text = str(value or choices[0]).strip().lower()
    if text not in choices:
        raise ValueError(f"LINGMA_{name} must be one of {', '.join(choices)}, got {text[:40]!r}")
    return text


def parse_aliases(value: Any) -> dict[str, str]:
    """Cast LINGMA_MODEL_ALIASES (a JSON object alias -> model key or display name)."""
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, Mapping):
        raise ValueError('LINGMA_MODEL_ALIASES must be a JSON object like {"gpt-4o": "qwen3-coder"}')
    return {str(alias): str(target) for alias, target in value.items()}
