"""Find the system tools that deployment tests drive: skip without them, but fail under CI."""

from __future__ import annotations

import os
import shutil

import pytest

# Debian keeps daemons such as nginx in sbin, which is not on every user's PATH.
SBIN_DIRS = ("/usr/sbin", "/sbin")


def on_ci() -> bool:
    """Tell whether this run is CI's (CI=true), where every tool must be installed."""
    return os.environ.get("CI", "").lower() in ("true", "1")


def require_tool(name: str, package: str) -> str:
    """Return the path of `name`; skip the test without it, or fail it when on CI."""
    path = shutil.which(name) or shutil.which(name, path=os.pathsep.join(SBIN_DIRS))
    if path:
        return path
    reason = f"{name} is not installed (Debian package {package}; `make tools` installs it as root)"
    if on_ci():
        pytest.fail(f"{reason}, and CI=true needs it", pytrace=False)
    pytest.skip(reason)
