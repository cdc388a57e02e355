"""The first check: GET /v1/models through the openai SDK, and the model the others ask."""

from __future__ import annotations

from .runner import expect


def list_models(target) -> list[str]:
    """Return the ids GET /v1/models lists, in order; fail on an empty list."""
    with target.openai() as client:
        ids = [model.id for model in client.models.list().data]
    expect(ids, "GET /v1/models listed no model")
    return ids


def describe_choice(ids: list[str], given: str | None) -> str:
    """Return the models row's detail: how many models and which one the doctor uses."""
    count = f"{len(ids)} model" + ("" if len(ids) == 1 else "s")
    if given is None:
        return f"{count}; using the first, {ids[0]}"
    listed = "listed" if given in ids else "not listed (an alias?)"
    return f"{count}; using {given} ({listed})"
