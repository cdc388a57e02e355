"""Defaults and explicit casts for the API settings (the core's are in lingma/settings.py).

Every setting is a LINGMA_* environment variable (or a .env line); `from_prefixed_env` strips
the prefix and JSON-parses values, so each one is cast here before use.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any

MIB = 1024 * 1024

# LINGMA_<KEY> -> default; LINGMA_WORKERS and LINGMA_WORKER_CONNECTIONS are read by
# gunicorn.conf.py and listed here so the README table has one source of truth.
DEFAULTS: dict[str, Any] = {
    "API_KEYS": "",
    "MODEL_ALIASES": {},
    "MAX_BODY_BYTES": 16 * MIB,
    "SSE_KEEPALIVE": 5.0,
    "LOG_LEVEL": "INFO",
    "WORKERS": 1,
    "WORKER_CONNECTIONS": 2000,
    # operator features (lingma_flask/ops/): metrics key, alert webhook and its rate limit
    "METRICS_KEY": "",
    "ALERT_WEBHOOK": "",
    "ALERT_INTERVAL": 300.0,
}


@dataclasses.dataclass(frozen=True)
class ApiSettings:
    """The API's knobs, cast from Flask config."""

    api_keys: tuple[str, ...] = ()
    model_aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)
    max_body_bytes: int = DEFAULTS["MAX_BODY_BYTES"]
    sse_keepalive: float = DEFAULTS["SSE_KEEPALIVE"]
    log_level: str = DEFAULTS["LOG_LEVEL"]
    metrics_key: str = ""
    alert_webhook: str = ""
    alert_interval: float = DEFAULTS["ALERT_INTERVAL"]

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> "ApiSettings":
        """Build the API settings from upper-case keys, casting each one."""
        return cls(
            api_keys=parse_api_keys(config.get("API_KEYS")),
            model_aliases=parse_aliases(config.get("MODEL_ALIASES")),
            max_body_bytes=int(config.get("MAX_BODY_BYTES") or DEFAULTS["MAX_BODY_BYTES"]),
            sse_keepalive=float(config.get("SSE_KEEPALIVE") or DEFAULTS["SSE_KEEPALIVE"]),
            log_level=str(config.get("LOG_LEVEL") or "INFO").upper(),
            metrics_key=raw_string(config, "METRICS_KEY"),
            alert_webhook=raw_string(config, "ALERT_WEBHOOK"),
            alert_interval=float(_or_default(config, "ALERT_INTERVAL")),  # 0 is allowed: no limit
        )


def _or_default(config: Mapping[str, Any], name: str) -> Any:
    value = config.get(name)
    return DEFAULTS[name] if value in (None, "") else value


def raw_string(config: Mapping[str, Any], name: str) -> str:
    """Return a string setting as written: `from_prefixed_env` turns "null" or "1e3" into JSON."""
    value = config.get(name)
    if isinstance(value, str):
        return value.strip()
    raw = os.environ.get("LINGMA_" + name)
    if raw is not None:
        return raw.strip()
    return "" if value is None else str(value)


def parse_api_keys(value: Any) -> tuple[str, ...]:
    """Cast LINGMA_API_KEYS (comma-separated, or a JSON list) to a tuple of keys."""
    if value is None:
        return ()
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return tuple(key for key in (str(item).strip() for item in items) if key)


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
