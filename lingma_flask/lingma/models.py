"""Lingma's model registry (`config/queryModels`) parsed into `ModelInfo` records."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

SCENES = ("chat", "assistant", "developer", "inline", "quest")
EXTRA_SCENES = ("reasoning", "completion")


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """One model Lingma offers: its key (what `chat/ask` sends) and how it presents itself."""

    key: str
    display_name: str
    scenes: tuple[str, ...] = ()
    is_reasoning: bool = False
    is_vl: bool = False
    is_default: bool = False
    max_input_tokens: int | None = None   # the context window, when the registry gives one


# A model entry's context window, under the names builds and BYOK configs use (protocol 3.4,
# 3.7 `customModel.maxInputTokens`); the first positive whole number wins.
WINDOW_FIELDS = ("maxInputTokens", "maxInputToken", "max_input_tokens", "contextWindow",
                 "context_window", "contextLength", "context_length", "maxContextTokens",
                 "maxContextLength", "contextTokens")


def _entries(result: object, scene: str = "", depth: int = 0) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (scene, entry) for every model entry, however deep the registry nests them.

    Classic Lingma sends `{scene: [entry, ...]}`; other builds wrap lists in objects
    (`{"chat": {"models": [...]}}`) or send a plain list, so the tree is walked generically
    and an entry's scene is the nearest enclosing scene name.
    """
    if depth > 6:
        return
    if isinstance(result, list):
        for item in result:
            if isinstance(item, dict) and _key_of(item):
                yield scene, item
            else:
                yield from _entries(item, scene, depth + 1)
    elif isinstance(result, dict):
        for name, value in result.items():
            inner = name if name in SCENES or name in EXTRA_SCENES else scene
            yield from _entries(value, inner, depth + 1)


def _key_of(entry: dict[str, Any]) -> str | None:
    key = entry.get("key") or entry.get("id") or entry.get("modelKey")
    return key if isinstance(key, str) and key else None


def parse_models(result: object) -> list[ModelInfo]:
    """Return the distinct models of a `config/queryModels` result, chat scene first."""
    merged: dict[str, dict[str, Any]] = {}
    for scene, entry in _entries(result):
        key = _key_of(entry)
        if key is None:
            continue
        slot = merged.setdefault(key, {"entry": entry, "scenes": [], "default": False})
        if scene and scene not in slot["scenes"]:
            slot["scenes"].append(scene)
        if scene in ("chat", "") and entry.get("isDefault"):
            slot["default"] = True
    models = [_model(key, slot) for key, slot in merged.items()]
    return sorted(models, key=lambda m: ("chat" not in m.scenes and m.scenes != (), not m.is_default))


def _model(key: str, slot: dict[str, Any]) -> ModelInfo:
    entry = slot["entry"]
    return ModelInfo(
        key=key,
        display_name=str(entry.get("displayName") or entry.get("name") or key),
        scenes=tuple(slot["scenes"]),
        is_reasoning=bool(entry.get("isReasoning")),
        is_vl=bool(entry.get("isVl")),
        is_default=slot["default"],
        max_input_tokens=window_of(entry),
    )


def window_of(entry: dict[str, Any]) -> int | None:
    """Return a model entry's context window in tokens (`WINDOW_FIELDS`), None when it gives none."""
    for name in WINDOW_FIELDS:
        value = entry.get(name)
        if isinstance(value, bool):
            continue
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and value > 0:
            return value
    return None
