"""Typed readers of the LINGMA_* settings, shared by the app, the core and gunicorn.conf.py.

Every setting is read here, the same way wherever it is read: unset, None or blank means the
default; a value that does not read as its type raises SettingError, whose message names the
variable and says what it must be. gunicorn's master imports this module before it forks, so
it imports only the stdlib (python-dotenv, for the .env file, only when that file is read).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import TypeVar

PREFIX = "LINGMA_"
TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")
SHOWN_CHARS = 40  # of a bad value in the message: enough to spot the typo, not a paste

D = TypeVar("D")


class SettingError(ValueError):
    """A LINGMA_* setting that cannot be used; the message names the variable.

    A ValueError, as the casts' own errors were, so existing callers still catch it.
    """

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = PREFIX + name


def expected(name: str, what: str, value: Any) -> SettingError:
    """The error for LINGMA_<name> holding `value` where `what` (e.g. "a whole number") is due."""
    return SettingError(name, f"{PREFIX}{name} must be {what}, not {str(value)[:SHOWN_CHARS]!r}")


class Settings:
    """Typed reads of LINGMA_<NAME> from a mapping of NAME (without the prefix) to its value.

    The mapping is Flask config after `from_prefixed_env` in the app, or `environment()` in
    gunicorn's master. Strings are cast; a value already of its type (a test config's 2000) is
    taken as it is.
    """

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def raw(self, name: str) -> Any:
        """The value of NAME, or None when it is unset, None or blank."""
        value = self.values.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return value

    def integer(self, name: str, default: D, minimum: int | None = None) -> int | D:
        """A whole number ("1e5" and "2.5" are not), at least `minimum` if one is given."""
        value = self.raw(name)
        if value is None:
            return default
        what = "a whole number" if minimum is None else f"a whole number of at least {minimum}"
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise expected(name, what, value) from None
        if minimum is not None and number < minimum:
            raise expected(name, what, value)
        return number

    def number(self, name: str, default: D) -> float | D:
        """A number, whole or not."""
        value = self.raw(name)
        if value is None:
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise expected(name, "a number", value) from None

    def flag(self, name: str, default: bool) -> bool:
        """true or false, also written 1/0, yes/no, on/off (any case)."""
        value = self.raw(name)
        if value is None:
            return default
        if not isinstance(value, str):
            return bool(value)
        text = value.strip().lower()
        if text not in TRUE + FALSE:
            raise expected(name, "true or false (or 1/0, yes/no, on/off)", value)
        return text in TRUE

    def text(self, name: str, default: D) -> str | D:
        """A text, stripped."""
        value = self.raw(name)
        return default if value is None else str(value).strip()

    def choice(self, name: str, choices: Sequence[str], default: str | None = None) -> str:
        """One of `choices`, in any case, returned as spelled there; the default is the first."""
        value = self.raw(name)
        if value is None:
            return choices[0] if default is None else default
        text = str(value).strip().lower()
        for choice in choices:
            if choice.lower() == text:
                return choice
        raise expected(name, "one of " + ", ".join(choices), value)

    def items(self, name: str) -> tuple[str, ...]:
        """A comma-separated list (or a list), its items stripped; empty items are dropped."""
        value = self.raw(name)
        if value is None:
            return ()
        parts = value if isinstance(value, (list, tuple)) else str(value).split(",")
        return tuple(item for item in (str(part).strip() for part in parts) if item)


def json_object(value: Any) -> Mapping[str, Any] | None:
    """A JSON-object setting (as JSON text, or already a mapping); None when it is not one."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, Mapping) else None


def environment(environ: Mapping[str, str] | None = None, dotenv: bool = True) -> dict[str, str]:
    """The LINGMA_* settings, without the prefix: the environment's, then the .env file's.

    The order the app reads them in (real variables win); the .env file is the one
    python-dotenv finds from the working directory, as the app's.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    if dotenv:
        from dotenv import dotenv_values  # pure Python: safe before gevent patches
        from dotenv import find_dotenv

        path = find_dotenv(usecwd=True)
        if path:
            values.update((key, value) for key, value in dotenv_values(path).items() if value is not None)
    values.update(environ)
    return {key[len(PREFIX):]: value for key, value in values.items() if key.startswith(PREFIX)}
