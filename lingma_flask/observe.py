"""Observation hooks: how metrics and alerts hear what the request path does.

The request path (the request log, the faces, the pipeline) reports what happens to the app's
`Observers`; ops subscribes its recording calls when `create_app` builds the app (in each
gunicorn worker), so nothing below ops imports it. A hook nobody subscribed to does nothing.
Subscribers must not raise (metrics' recording calls never do): a hook calls them in order.

A leaf: imports nothing of the package, and knows no Flask (`of_app` only reads
`app.extensions`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import Generic
from typing import ParamSpec

P = ParamSpec("P")
KEY = "lingma_observers"


class Hook(Generic[P]):
    """One kind of event: callables subscribe, calling the hook calls each in order."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[P, Any]] = []

    def subscribe(self, callback: Callable[P, Any]) -> None:
        """Call `callback` on every event from now on (subscribing twice has no effect)."""
        if callback not in self._subscribers:
            self._subscribers.append(callback)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for callback in self._subscribers:
            callback(*args, **kwargs)


class Observers:
    """The hooks of one app: what the request path reports, and what each event carries."""

    def __init__(self) -> None:
        # one answered request: (matched URL rule or None, status, model, total seconds,
        # first-token seconds or None, prompt tokens, completion tokens, key name or None)
        self.request_finished: Hook[[str | None, int, str | None, float, float | None, int, int,
                                     str | None]] = Hook()
        self.stream_opened: Hook[[]] = Hook()      # a streamed answer started
        self.stream_closed: Hook[[]] = Hook()      # ... and ended, whichever way
        self.tool_event: Hook[[str, str]] = Hook()      # (tool name, "call" | "repair" | "failure" | "dropped")
        self.lingma_finish: Hook[[int | str]] = Hook()  # a Lingma stream's chat/finish status code
        self.quota: Hook[[bool]] = Hook()   # True: a quota error; False: a chat got an answer
        # one request's log line was written: its fields, plus "time" (ISO, UTC), "rule" (the
        # matched URL rule or None) and "prompt" (the last user message, capped, or None): the
        # store's usage rows. Subscribers only keep them (a buffer append): no I/O here.
        self.request_logged: Hook[[dict[str, Any]]] = Hook()


def of_app(app: Any) -> Observers:
    """Return the app's observers, made on first use (kept in `app.extensions`)."""
    observers = app.extensions.get(KEY)
    if observers is None:
        observers = app.extensions[KEY] = Observers()
    return observers
