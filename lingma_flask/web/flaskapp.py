"""`GatewayFlask`: the app's Flask class, without a check per hook call it never needs.

On every request Flask asks `inspect.iscoroutinefunction` of each before-, after- and
teardown hook and of the view (seven times per chat here, four Python calls each), to wrap
`async def` ones. This app's hooks and views are plain functions: for those the answer is
read off the code's flags at once; any other callable still takes Flask's own path.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import FunctionType
from typing import Any

from flask import Flask


class GatewayFlask(Flask):
    """Flask, with `ensure_sync` answering for plain functions without `inspect`."""

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Return a plain synchronous function as is; anything else as Flask would."""
        if (type(func) is FunctionType and not func.__code__.co_flags & inspect.CO_COROUTINE
                and getattr(func, "_is_coroutine_marker", None) is None):  # 3.12's markcoroutinefunction
            return func
        return super().ensure_sync(func)
