"""Finding Lingma: which command runs it (LINGMA_BIN, ~/.lingma/bin, PATH or the simulator).

Nothing here starts a process; `LingmaCommand` only says how `LingmaProcess` will run one.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import LingmaNotReadyError

if TYPE_CHECKING:
    from .settings import CoreSettings

SIMULATOR = "simulator"
SIMULATOR_MODULE = "lingma_flask.simulator"

_WINDOWS = sys.platform == "win32"
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True)
class LingmaCommand:
    """How to run one Lingma: the argv before `start ...`, its cwd and where it came from."""

    argv_prefix: tuple[str, ...]
    cwd: str
    simulator: bool
    description: str

    def argv(self, work_dir: Path, socket_port: int, http_port: int) -> list[str]:
        """Return the full `start` command line for one work dir and pair of ports."""
        return [*self.argv_prefix, "start", "--workDir", str(work_dir),
                "--socketPort", str(socket_port), "--httpPort", str(http_port)]


def simulator_command() -> LingmaCommand:
    """Return the command that runs the built-in simulator with this interpreter."""
    return LingmaCommand((sys.executable, "-m", SIMULATOR_MODULE), str(_PACKAGE_PARENT),
                         True, "the built-in Lingma simulator")


def platform_dir(machine: str | None = None, system: str | None = None) -> str | None:
    """Return Lingma's per-platform folder name (e.g. `x86_64_linux`), or None if unknown."""
    machine = (machine if machine is not None else platform.machine()).lower()
    system = system if system is not None else sys.platform
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(machine)
    os_name = ("linux" if system.startswith("linux") else "darwin" if system == "darwin"
               else "windows" if system in ("win32", "cygwin") else None)
    if arch is None or os_name is None:
        return None
    return f"{arch}_{os_name}"


def _binary_name() -> str:
    return "Lingma.exe" if _WINDOWS else "Lingma"


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _version_key(name: str) -> tuple[int, ...] | None:
    """Return a numeric sort key for a version folder (`2.11.1` -> (2, 11, 1)), None if not one."""
    parts = []
    for part in name.split("."):
        digits = re.match(r"\d+", part)
        if digits is None:
            break
        parts.append(int(digits.group()))
    return tuple(parts) or None


def _versioned_binary(home: Path) -> tuple[Path, str] | None:
    """Return the newest `~/.lingma/bin/<version>/<platform>/Lingma` and its version."""
    plat = platform_dir()
    root = home / ".lingma" / "bin"
    if plat is None or not root.is_dir():
        return None
    found = []
    for entry in root.iterdir():
        key = _version_key(entry.name)
        candidate = entry / plat / _binary_name()
        if key is not None and _is_executable(candidate):
            found.append((key, candidate, entry.name))
    if not found:
        return None
    _, path, version = max(found)
    return path, version


def _explicit_command(value: str) -> LingmaCommand:
    """Return the command for an explicit LINGMA_BIN path, or raise a clear error."""
    path = Path(value).expanduser()
    if not path.exists() and os.sep not in value:
        path = Path(shutil.which(value) or path)      # a bare name: look it up on PATH
    if not _is_executable(path):
        problem = "does not exist" if not path.exists() else "is not an executable file"
        raise LingmaNotReadyError(
            f"LINGMA_BIN={value!r} {problem}. Point it at the Lingma binary "
            f"(e.g. ~/.lingma/bin/<version>/{platform_dir() or '<platform>'}/{_binary_name()}) "
            f"or set it to {SIMULATOR!r}."
        )
    path = path.resolve()
    return LingmaCommand((str(path),), str(path.parent), False, f"LINGMA_BIN {path}")


def find_binary(settings: CoreSettings) -> LingmaCommand | None:
    """Find Lingma: LINGMA_BIN, else the newest ~/.lingma/bin/<version>, else PATH, else None."""
    if settings.bin:
        if settings.bin.strip().lower() == SIMULATOR:
            return simulator_command()
        return _explicit_command(settings.bin.strip())
    versioned = _versioned_binary(Path.home())
    if versioned is not None:
        path, version = versioned
        return LingmaCommand((str(path),), str(path.parent), False, f"Lingma {version} at {path}")
    on_path = shutil.which(_binary_name())
    if on_path:
        path = Path(on_path).resolve()
        return LingmaCommand((str(path),), str(path.parent), False, f"Lingma on PATH at {path}")
    return None


def resolve_command(settings: CoreSettings) -> LingmaCommand:
    """Return `find_binary`'s command, or the simulator when no Lingma is installed."""
    return find_binary(settings) or simulator_command()
