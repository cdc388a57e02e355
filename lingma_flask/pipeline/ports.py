"""The pipeline's door to the core: what the pipeline and the faces use of the pool and its streams.

`lingma.pool.LingmaPool` and `lingma.stream.ChatStream` implement these Protocols, and so does
the test fake (tests/api/fakes.py); tests/api/test_ports.py checks all of them against these
definitions, so neither the fake nor the pipeline can drift from the real thing unseen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol
from typing import runtime_checkable

from ..lingma.models import ModelInfo
from ..lingma.stream import FinishRecord
from ..lingma.stream import Thought


@runtime_checkable
class PoolSettings(Protocol):
    """The core settings the pipeline reads (`lingma.settings.CoreSettings` holds them all)."""

    @property
    def startup_timeout(self) -> float:
        """How long a request waits for a starting Lingma (LINGMA_STARTUP_TIMEOUT)."""
        ...

    @property
    def max_prompt_chars(self) -> int:
        """The longest prompt the pool accepts, in characters (LINGMA_MAX_PROMPT_CHARS)."""
        ...


@runtime_checkable
class ChatStream(Protocol):
    """One answer Lingma is streaming; iterate `events` once, then `close` (idempotent)."""

    @property
    def instance_name(self) -> str:
        """The Lingma instance answering (for the request log)."""
        ...

    @property
    def finish(self) -> FinishRecord | None:
        """What Lingma's `chat/finish` said, once it came."""
        ...

    def events(self, wait: float | None, coalesce: bool = False,
               reasoning: bool = False) -> Iterator[str | Thought | None]:
        """Yield text chunks, `Thought`s (with `reasoning`) and None after each quiet `wait`."""
        ...

    def cancel(self, reason: str = "") -> None:
        """Tell Lingma to stop this answer."""
        ...

    def close(self) -> None:
        """Free the stream and its pool slot."""
        ...


@runtime_checkable
class Pool(Protocol):
    """The Lingma pool as the pipeline and the faces see it."""

    @property
    def settings(self) -> PoolSettings:
        """The core settings the pool runs with."""
        ...

    def wait_ready(self, timeout: float) -> bool:
        """Wait until a Lingma is ready; return whether one is."""
        ...

    def await_ready(self, timeout: float) -> bool:
        """Like `wait_ready`, but first restart a Lingma that gave up."""
        ...

    def ask(self, prompt: str, model_key: str | None, *, ask_mode: str | None = None,
            images: tuple[str, ...] = (), tenant: str | None = None) -> ChatStream:
        """Send a chat to Lingma and return its stream; `tenant` (the key's name) queues fairly."""
        ...

    def models(self) -> list[ModelInfo]:
        """Return Lingma's model registry."""
        ...

    def context_window(self, model_key: str | None) -> int | None:
        """Return the model's context window in tokens as Lingma reports it; None when unknown."""
        ...
