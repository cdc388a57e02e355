"""Which Lingma model a request goes to: keys, display names, aliases and vendor names.

One rule on every face: a model is named by its Lingma key, its display name
(case-insensitive) or an alias from LINGMA_MODEL_ALIASES; a request that names none, or names
a well-known vendor model that none of those match (`VENDOR_NAMES`: what clients send by
default whatever the server offers), goes to Lingma's default model, and the answer echoes
the name as sent. Any other unknown name is a 404 model_not_found.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from collections.abc import Sequence

from ..lingma.models import ModelInfo
from ..web.apierror import ApiError
from .ports import Pool

DEFAULT_MODEL = "auto"
def find_model(name: str, models: Sequence[ModelInfo],
               aliases: Mapping[str, str] | None = None) -> ModelInfo | None:
    """Return the ModelInfo a name means (alias, key, or display name), or None."""
    folded = name.casefold()
    for alias, target in (aliases or {}).items():
        if alias.casefold() == folded:
            return find_model(target, models)
    for match in (
        lambda m: m.key == name,
        lambda m: m.key.casefold() == folded,
        lambda m: (m.display_name or "").casefold() == folded,
    ):
        found = next((m for m in models if match(m)), None)
        if found is not None:
            return found
    return None


def default_model_key(models: Sequence[ModelInfo]) -> str:
    """Return the key used when a request names no model: Lingma's default, else "auto"."""
    return next((m.key for m in models if m.is_default), DEFAULT_MODEL)


def model_not_found(name: str) -> ApiError:
    """Build the 404 for an unknown model name."""
    return ApiError(404, f"The model '{name}' does not exist; GET /v1/models lists the"
                    " models this gateway offers.", param="model", code="model_not_found")


@dataclasses.dataclass(frozen=True)
class Target:
    """The Lingma model a request goes to, and the name its response echoes."""

    key: str
    name: str
    info: ModelInfo | None = None   # when the registry lists the key


# Names clients send by default whatever the server offers: OpenAI's (gpt-*, chatgpt-*,
# codex-*, o1/o3/o4-mini...), Anthropic's (claude-*) and Qwen's (qwen*, as Qwen Code sends
# qwen3.7-max). Unmatched, they mean Lingma's default model; on every face alike.
VENDOR_NAMES = re.compile(r"(?:gpt-|chatgpt-|codex-|claude-)[\w.:@/-]+|o[1-9][\w.:-]*"
                          r"|qwen[\w.:@/-]*", re.I)


def is_vendor_name(name: str) -> bool:
    """Tell whether a name is a well-known vendor model name (see `VENDOR_NAMES`)."""
    return len(name) <= 256 and VENDOR_NAMES.fullmatch(name) is not None


def requested_target(requested: str | None) -> Target:
    """Return the target a request names before Lingma's registry is known: the name as asked."""
    name = requested or DEFAULT_MODEL
    return Target(name, name)


def resolve_target(requested: str | None, pool: Pool, aliases: Mapping[str, str], *,
                   models: Sequence[ModelInfo] | None = None) -> Target:
    """Resolve a request's `model` (None: Lingma's default) or raise 404 model_not_found.

    The face passes the app's `pool` and `aliases`; `models` defaults to the pool's registry.
    A vendor name that matches no model, alias or display name means the default model.
    """
    models = pool.models() if models is None else models
    found = None if requested is None else find_model(requested, models, aliases)
    if found is not None:
        return Target(found.key, requested or found.key, found)
    if requested is not None and not is_vendor_name(requested):
        raise model_not_found(requested)
    key = default_model_key(models)
    return Target(key, requested or key, next((m for m in models if m.key == key), None))
