"""LINGMA_KEY_LIMITS: requests per minute, open chats and daily tokens per key, and its weight.

A JSON object whose keys are configured key names or `*`, the default of every key:

    {"*": {"rpm": 60, "concurrent": 4}, "ci": {"daily_tokens": 2000000, "weight": 2}}

Each field is optional; absent means unlimited (weight: 1). A key's own entry overrides the
default field by field, and `null` there lifts the default's limit for that key. `weight` is the
key's share when chats queue for a Lingma slot (weighted fair queuing, lingma/fairqueue.py).

Read by gunicorn's master before it forks (through config.py): the stdlib only.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection
from collections.abc import Mapping
from typing import Any

from .settings_reader import PREFIX
from .settings_reader import SettingError
from .settings_reader import json_object

SETTING = "KEY_LIMITS"
DEFAULT = "*"
LIMITS = ("rpm", "concurrent", "daily_tokens")
FIELDS = (*LIMITS, "weight")
MAX_WEIGHT = 100


@dataclasses.dataclass(frozen=True)
class Limit:
    """One key's limits (None: unlimited) and its queueing weight."""

    rpm: int | None = None            # chats admitted per UTC minute
    concurrent: int | None = None     # chats open at once
    daily_tokens: int | None = None   # estimated prompt + completion tokens per UTC day
    weight: int = 1

    @property
    def limited(self) -> bool:
        """Whether any limit applies."""
        return any(getattr(self, name) is not None for name in LIMITS)


UNLIMITED = Limit()


@dataclasses.dataclass(frozen=True)
class KeyLimits:
    """Every key's limits: the default, and the keys with their own entry."""

    default: Limit = UNLIMITED
    keys: Mapping[str, Limit] = dataclasses.field(default_factory=dict)

    def for_key(self, name: str | None) -> Limit:
        """The limits of the key named `name`; requests without a key (local ones) have none."""
        if name is None:
            return UNLIMITED
        return self.keys.get(name, self.default)

    def weight(self, name: str | None) -> int:
        """The key's share of the queue (1 without a key or an entry)."""
        return self.for_key(name).weight


def _fail(message: str) -> SettingError:
    return SettingError(SETTING, f"{PREFIX}{SETTING} {message}")


def _field(owner: str, field: str, value: Any) -> int | None:
    if value is None and field != "weight":
        return None
    low, high = (1, MAX_WEIGHT) if field == "weight" else (1, None)
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
        span = f"from {low} to {high}" if high else f"of at least {low}"
        raise _fail(f"{owner}: {field!r} must be a whole number {span}"
                    f"{'' if field == 'weight' else ' (or null: unlimited)'}, not {json.dumps(value)[:40]}")
    return value


def _entry(owner: str, value: Any, base: Limit) -> Limit:
    if not isinstance(value, Mapping):
        raise _fail(f"{owner} must be an object like {{\"rpm\": 60}}")
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        raise _fail(f"{owner}: unknown field {str(unknown[0])[:40]!r}; the fields are"
                    f" {', '.join(FIELDS)}")
    changes: dict[str, Any] = {field: _field(owner, field, value[field]) for field in FIELDS if field in value}
    return dataclasses.replace(base, **changes)


def parse_key_limits(value: Any, names: Collection[str]) -> KeyLimits:
    """Read LINGMA_KEY_LIMITS; every key it names must be one of `names` (the configured keys)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return KeyLimits()
    value = json_object(value)
    if value is None:
        raise _fail('must be a JSON object like {"*": {"rpm": 60, "concurrent": 4}}')
    default = _entry("'*'", value[DEFAULT], UNLIMITED) if DEFAULT in value else UNLIMITED
    keys = {}
    for name, entry in value.items():
        if name == DEFAULT:
            continue
        if name not in names:
            raise _fail(f"names {str(name)[:64]!r}, which is no configured key"
                        " (LINGMA_API_KEYS, LINGMA_API_KEYS_FILE); use a key's name or '*'")
        keys[name] = _entry(repr(name), entry, default)
    return KeyLimits(default, keys)
