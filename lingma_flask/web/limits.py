"""Limits per key (LINGMA_KEY_LIMITS): admit a chat, or refuse it with a 429 that names the limit.

A face calls `admit(record)` once per chat, after validating the request and before asking
the pipeline; the key's open-chat place is given back when the record's line is written, which
happens however the request ends (answered, failed, the client gone). Requests without a key
(local clients of a keyless gateway) are not limited. The counts live in this worker's
`KeyLedger` (ledger.py); `init_app` also hands the pool each key's queueing weight.
"""

from __future__ import annotations

from flask import Flask
from flask import current_app

from ..extension import get_settings
from .apierror import ApiError
from .ledger import DAY
from .ledger import KeyLedger
from .ledger import OverLimit
from .ledger import wait_seconds
from .record import RequestRecord

LEDGER = "lingma_key_ledger"
SETTING = "LINGMA_KEY_LIMITS"

# limit -> (error code, error type, what the limit is called in the message)
REFUSALS = {
    "rpm": ("rate_limit_exceeded", "requests", "requests per minute"),
    "concurrent": ("concurrency_limit_exceeded", "requests", "concurrent chats"),
    "daily_tokens": ("daily_token_limit_exceeded", "tokens", "estimated tokens per day (UTC)"),
}


def init_app(app: Flask) -> None:
    """Give the app its ledger, and the pool each key's weight in its admission queue."""
    app.extensions[LEDGER] = KeyLedger()
    pool = app.extensions.get("lingma")
    if pool is not None:
        pool.tenant_weight = app.extensions["lingma_api"].key_limits.weight


def get_ledger() -> KeyLedger:
    """Return the current app's ledger (this worker's counts)."""
    return current_app.extensions[LEDGER]


def admit(record: RequestRecord) -> None:
    """Count one chat of the record's key, or raise the 429 naming the limit it is over."""
    name = record.key
    if name is None:
        return
    try:
        hold = get_ledger().admit(name, get_settings().key_limits.for_key(name))
    except OverLimit as over:
        raise over_limit(name, over) from None
    record.on_write(lambda done: hold.finish((done.prompt_tokens or 0) + (done.completion_tokens or 0)))


def over_limit(name: str, over: OverLimit) -> ApiError:
    """The 429 of a key over one of its limits: code and message name it; Retry-After says when."""
    code, kind, what = REFUSALS[over.limit]
    seconds = wait_seconds(over)
    if over.limit == "concurrent":
        when = "retry when one of its chats ends"
    elif over.limit == "daily_tokens":
        when = f"the budget renews at midnight UTC, in {describe(seconds)}"
    else:
        when = f"retry in {seconds} s"
    message = f"Key {name!r} is over its limit of {over.value} {what} ({SETTING}); {when}."
    return ApiError(429, message, type=kind, code=code, headers={"Retry-After": str(seconds)})


def describe(seconds: int) -> str:
    """A wait of up to a day, as hours and minutes."""
    seconds = min(seconds, DAY)
    hours, minutes = divmod((seconds + 59) // 60, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
