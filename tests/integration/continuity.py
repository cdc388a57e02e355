"""What the tests of state continued across workers and hosts share: a client that lets any
worker or host answer each request, and the tool the Anthropic tool runner calls."""

from __future__ import annotations

import httpx2
from anthropic import beta_tool


def fresh_connections(**hooks) -> httpx2.Client:
    """An HTTP client that opens a new connection for every request (no keep-alive)."""
    return httpx2.Client(limits=httpx2.Limits(max_keepalive_connections=0), timeout=60, event_hooks=hooks)


@beta_tool
def get_weather(city: str) -> str:
    """Get the weather of a city."""
    return f"sunny in {city}"
