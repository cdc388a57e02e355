"""The parameters of one `chat/ask`, in the shape Lingma's own plugin sends (protocol doc 3.7)."""

from __future__ import annotations

from typing import Any

from ..ids import hex_id
from ..ids import uuid_text


def new_ids() -> tuple[str, str]:
    """Return a fresh (requestId, sessionId) pair."""
    return hex_id(), uuid_text()


def build_ask(prompt: str, model_key: str | None, *, mode: str, request_id: str,
              session_id: str, workspace: str, auto_memory: bool,
              image_urls: list[str] | None = None) -> dict[str, Any]:
    """Return `chat/ask` params: the prompt in `questionText`, mirrored in `chatContext.text`."""
    agent = mode == "agent"
    extra: dict[str, Any] = {"workspacePath": workspace}
    context: dict[str, Any] = {"text": prompt, "features": [], "preferredLanguage": "en", "localeLang": "en"}
    if image_urls:
        context["imageUrls"] = list(image_urls)
    if model_key:
        extra["modelConfig"] = {"key": model_key}
    return {
        "requestId": request_id,
        "sessionId": session_id,
        "sessionType": "developer" if agent else "chat",
        "chatTask": "FREE_INPUT",
        "mode": "agent" if agent else "chat",
        "stream": True,
        "source": 1,
        "isReply": False,
        "taskDefinitionType": "system",
        "codeLanguage": "",
        # the field Lingma reads, mirrored where the plugin puts it; nowhere else (protocol 3.7)
        "questionText": prompt,
        "chatContext": context,
        "extra": extra,
        "pluginPayloadConfig": {
            "isEnableAskAgent": agent,
            "isEnableAutoMemory": auto_memory,
            "isEnableProjectRule": False,
        },
        "targetAgent": "",
        "shellType": "",
        "customModel": None,
    }
