"""The configured API keys and their names: LINGMA_API_KEYS and LINGMA_API_KEYS_FILE.

An entry is `name:key` (only the first `:` separates, so a key may hold more) or a plain key,
named `key-<the first 8 hex digits of its SHA-256>`: a stable name, the same on every host and
after restarts, that tells nothing usable about the key. The name, never the key, is what logs,
metrics, the status page and usage show. Names are unique and made of 1-64 letters, digits,
`.`, `_` or `-`. A bad entry is a SettingError naming the variable and the entry's position,
never its text (which may be a key).

Read by gunicorn's master before it forks (through config.py): the stdlib only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .settings_reader import PREFIX
from .settings_reader import SettingError
from .settings_reader import Settings

NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
RESERVED = frozenset({"local", "other"})  # keyless requests' name, and the metrics' overflow label
NAME_RULE = "1-64 letters, digits, '.', '_' or '-'"


@dataclasses.dataclass(frozen=True)
class ApiKey:
    """One configured key and its name; `repr` never shows the key."""

    name: str
    key: str = dataclasses.field(repr=False)


def fingerprint_name(key: str) -> str:
    """The name of a key configured without one: `key-` and 8 hex digits of its SHA-256."""
    return "key-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def parse_entry(entry: str, setting: str, where: str) -> ApiKey:
    """Read one `name:key` or plain key; `where` says which entry it is in the error."""
    name, colon, key = entry.partition(":")
    if not colon:
        return ApiKey(fingerprint_name(entry), entry)
    name, key = name.strip(), key.strip()
    if not NAME.fullmatch(name):
        raise SettingError(setting, f"{PREFIX}{setting}: {where} has a name before ':' that is not"
                           f" {NAME_RULE} (a key holding ':' needs a name: name:key)")
    if name in RESERVED:
        raise SettingError(setting, f"{PREFIX}{setting}: {where} is named {name!r}, a name the"
                           " gateway keeps for itself; choose another")
    if not key:
        raise SettingError(setting, f"{PREFIX}{setting}: {where} names {name!r} but holds no key")
    return ApiKey(name, key)


def read_keys(values: Any) -> tuple[ApiKey, ...]:
    """Read LINGMA_API_KEYS (comma-separated, or a list) from `values`, the settings mapping."""
    entries = Settings({"API_KEYS": values}).items("API_KEYS")
    return tuple(parse_entry(entry, "API_KEYS", f"entry {n}") for n, entry in enumerate(entries, 1))


def read_keys_file(path: Any) -> tuple[ApiKey, ...]:
    """Read LINGMA_API_KEYS_FILE: one entry a line; blank lines and `#` lines are skipped."""
    try:
        text = Path(str(path)).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise SettingError("API_KEYS_FILE", f"{PREFIX}API_KEYS_FILE cannot be read ({reason}):"
                           f" {str(path)[:200]}") from None
    keys = []
    for number, line in enumerate(text.splitlines(), 1):
        entry = line.strip()
        if entry and not entry.startswith("#"):
            keys.append(parse_entry(entry, "API_KEYS_FILE", f"line {number}"))
    if not keys:
        raise SettingError("API_KEYS_FILE", f"{PREFIX}API_KEYS_FILE holds no key; write one key"
                           " (or name:key) a line, or unset it")
    return tuple(keys)


def check_unique(keys: Iterable[ApiKey], setting: str) -> tuple[ApiKey, ...]:
    """Refuse two entries with one name, or one key under two names."""
    keys = tuple(keys)
    names: set[str] = set()
    secrets: set[str] = set()
    for entry in keys:
        if entry.name in names:
            raise SettingError(setting, f"{PREFIX}{setting}: the name {entry.name!r} is given to"
                               " two keys; names must be unique")
        if entry.key in secrets:
            raise SettingError(setting, f"{PREFIX}{setting}: the key named {entry.name!r} is"
                               " configured twice; give each key once")
        names.add(entry.name)
        secrets.add(entry.key)
    return keys
