"""Lingma's model registry (`config/queryModels`) parsed into `ModelInfo` records."""

from __future__ import annotations

import dataclasses

SCENES = ("chat", "assistant", "developer", "inline", "quest")


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """One model Lingma offers: its key (what `chat/ask` sends) and how it presents itself."""

    key: str
    display_name: str
    scenes: tuple = ()
    is_reasoning: bool = False
    is_vl: bool = False
    is_default: bool = False


def _entries(result):
    """Yield (scene, entry) pairs from a scene-keyed dict, a plain list, or nested lists."""
    if isinstance(result, list):
        for entry in result:
            if isinstance(entry, dict):
                yield "", entry
    elif isinstance(result, dict):
        for scene, value in result.items():
            if isinstance(value, list):
                for entry in value:
                    if isinstance(entry, dict):
                        yield scene, entry


def parse_models(result) -> list[ModelInfo]:
    """Return the distinct models of a `config/queryModels` result, chat scene first."""
    merged: dict[str, dict] = {}
    for scene, entry in _entries(result):
        key = entry.get("key") or entry.get("id") or entry.get("model")
        if not isinstance(key, str) or not key:
            continue
        slot = merged.setdefault(key, {"entry": entry, "scenes": [], "default": False})
        if scene and scene not in slot["scenes"]:
            slot["scenes"].append(scene)
        if scene in ("chat", "") and entry.get("isDefault"):
            slot["default"] = True
    models = [_model(key, slot) for key, slot in merged.items()]
    return sorted(models, key=lambda m: ("chat" not in m.scenes and m.scenes != (), not m.is_default))


def _model(key: str, slot: dict) -> ModelInfo:
    entry = slot["entry"]
    return ModelInfo(
        key=key,
        display_name=str(entry.get("displayName") or entry.get("name") or key),
        scenes=tuple(slot["scenes"]),
        is_reasoning=bool(entry.get("isReasoning")),
        is_vl=bool(entry.get("isVl")),
        is_default=slot["default"],
    )
