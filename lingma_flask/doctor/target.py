"""The gateway under test and the SDK clients pointed at it (the SDKs are imported lazily)."""

from __future__ import annotations

import dataclasses
import importlib


class MissingSdk(Exception):
    """An official SDK the doctor needs is not installed."""


def sdk(package: str):
    """Import and return an SDK module, or raise MissingSdk saying how to install it."""
    try:
        return importlib.import_module(package)
    except ImportError as error:
        raise MissingSdk(f"the {package} package is not installed ({error});"
                         f" pip install {package}") from None


def preload(*packages: str) -> str:
    """Import the SDKs now (no check's time then includes an import); return their versions."""
    versions = []
    for package in packages:
        try:
            version = getattr(sdk(package), "__version__", "?")
        except MissingSdk:
            version = "not installed"   # the checks that need it say so
        versions.append(f"{package} {version}")
    return ", ".join(versions)


def gateway_root(base_url: str) -> str:
    """Return the gateway's root URL: without a trailing slash or a trailing /v1."""
    root = base_url.strip().rstrip("/")
    return root[:-3] if root.endswith("/v1") else root


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the gateway is, the key and model to use, and each request's timeout in seconds."""

    root: str
    api_key: str
    model: str | None
    timeout: float

    def openai(self):
        """Return an `openai.OpenAI` client for the gateway's /v1, without retries."""
        return sdk("openai").OpenAI(base_url=self.root + "/v1", api_key=self.api_key,
                                    max_retries=0, timeout=self.timeout)

    def anthropic(self):
        """Return an `anthropic.Anthropic` client for the gateway root, without retries."""
        return sdk("anthropic").Anthropic(base_url=self.root, api_key=self.api_key,
                                          max_retries=0, timeout=self.timeout)
