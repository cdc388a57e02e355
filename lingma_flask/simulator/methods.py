"""Results of the simple request methods: initialize, auth status, models."""

from __future__ import annotations

import time

from . import VERSION
from .workdir import WorkDir

SCENES = ("assistant", "chat", "developer", "inline", "quest")

MODELS = (
    # key, displayName, isReasoning, isDefault, isVl
    ("auto", "Auto", False, True, False),
    ("dashscope_qwen3_coder", "Qwen3-Coder", False, False, False),
    ("dashscope_qwen_plus_20250428_thinking", "Qwen3-Thinking", True, False, False),
    ("dashscope_qwen_max_latest", "Qwen3-Max", False, False, False),
    ("kmodel", "Kimi-K2.6", False, False, False),
    ("dashscope_qwen_vl_max", "Qwen-VL-Max", False, False, True),
)
MODEL_KEYS = frozenset(row[0] for row in MODELS)
VL_MODEL_KEYS = frozenset(row[0] for row in MODELS if row[4])

LOGGED_OUT = {"status": 1, "name": "", "id": "", "accountId": "", "token": "", "refreshToken": ""}


def initialize_result() -> dict:
    """The `initialize` result."""
    return {"capabilities": {}, "serverInfo": {"name": "lingma", "version": VERSION},
            "experimental": {}}


def acp_initialize_result(style: str) -> dict:
    """The `initialize` result of an ACP-style runtime: ACP's own (`acp`), or LSP-shaped as
    Qoder CN 1.25.1 answers (`lsp`: only the `session/new` probe tells it apart)."""
    if style == "lsp":
        return {"capabilities": {}, "serverInfo": {"name": "qodercn", "version": VERSION}}
    return {"protocolVersion": 1,
            "agentCapabilities": {"loadSession": True, "promptCapabilities": {"image": True}},
            "authMethods": [], "agentInfo": {"name": "qodercn", "version": VERSION}}


def auth_status(workdir: WorkDir, *, expired: bool) -> dict:
    """`auth/status`: 2 + account when `cache/user` exists (3 when expired), else 1."""
    if not workdir.logged_in():
        return dict(LOGGED_OUT)
    result = workdir.account()
    result.update({
        "status": 3 if expired else 2,
        "token": "pt-SIMULATED-TOKEN", "refreshToken": "rt-SIMULATED-TOKEN",
        "expireTime": int((time.time() + 30 * 86400) * 1000),
        "whitelist": 3, "privacyPolicyAgreed": True,
    })
    return result


def model_entry(key: str, name: str, reasoning: bool, default: bool, vision: bool) -> dict:
    """One model registry entry."""
    return {"key": key, "displayName": name, "format": "openai", "source": "system",
            "isReasoning": reasoning, "isVl": vision, "isDefault": default,
            "url": "", "apiKey": "", "model": ""}


def query_models(logged_in: bool) -> dict:
    """`config/queryModels`: scene-keyed lists, `{}` when logged out."""
    if not logged_in:
        return {}
    return {scene: [model_entry(*row) for row in MODELS] for scene in SCENES}
