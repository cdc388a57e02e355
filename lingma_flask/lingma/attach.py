"""Attach mode: use a Lingma someone else runs (LINGMA_ATTACH, or the older LINGMA_SOCKET_PORT).

`LINGMA_ATTACH` is `auto` (find a running Lingma / Qoder CN desktop: desktop.py), a port on
127.0.0.1, or the path of a Unix socket (`qodercn.sock`; `unix:` may prefix it). The older
`LINGMA_SOCKET_PORT=<port>` means exactly `LINGMA_ATTACH=<port>`; setting both to different
things is refused. An attached Lingma is never started, stopped or killed by the gateway:
restarting its instance only reconnects, and each (re)connect resolves the endpoint afresh,
so a desktop that restarted on another port is found again.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..settings_reader import SettingError
from . import desktop
from .endpoint import Endpoint
from .endpoint import tilde
from .errors import LingmaNotReadyError

if TYPE_CHECKING:
    from .settings import CoreSettings

log = logging.getLogger(__name__)

AUTO = "auto"
ATTACH = "ATTACH"
SOCKET_PORT = "SOCKET_PORT"
PIPE_PREFIX = "\\\\.\\pipe\\"

Target = int | str   # a port, AUTO, or an absolute Unix socket path


def parse(value: str) -> Target:
    """Read a LINGMA_ATTACH value: AUTO, a port (int) or a socket path (absolute str)."""
    text = value.strip()
    if text.lower() == AUTO:
        return AUTO
    if text.isdigit():
        port = int(text)
        if not 0 < port < 65536:
            raise SettingError(ATTACH, f"LINGMA_ATTACH={text} is not a port (1-65535)")
        return port
    if text.startswith(PIPE_PREFIX):
        raise SettingError(ATTACH, "LINGMA_ATTACH: Windows named pipes are not supported (the gateway"
                           " speaks WebSocket); give the port of the Lingma's .info file instead")
    path = text[len("unix:"):] if text.startswith("unix:") else text
    if path and (path.startswith("~") or os.sep in path or "/" in path or path.endswith(".sock")):
        return str(Path(path).expanduser().absolute())
    raise SettingError(ATTACH, "LINGMA_ATTACH must be auto, a port number or the path of a Unix"
                       f" socket (e.g. ~/.config/QoderCN/SharedClientCache/qodercn.sock), not {text[:40]!r}")


def target(settings: CoreSettings) -> Target | None:
    """What the settings attach to (None: the gateway spawns its own Lingma).

    Raises SettingError for a bad LINGMA_ATTACH, or one that contradicts LINGMA_SOCKET_PORT.
    """
    given = parse(settings.attach) if settings.attach and settings.attach.strip() else None
    port = settings.socket_port or None   # 0 always meant "not attached"
    if port is not None and not 0 < port < 65536:
        raise SettingError(SOCKET_PORT, f"LINGMA_SOCKET_PORT={port} is not a port (1-65535)")
    if given is not None and port is not None and given != port:
        raise SettingError(ATTACH, f"LINGMA_ATTACH={settings.attach!r} and LINGMA_SOCKET_PORT={port} disagree:"
                           " LINGMA_SOCKET_PORT is the older spelling of LINGMA_ATTACH=<port>; set one")
    return given if given is not None else port


def setting_name(settings: CoreSettings) -> str:
    """The variable attach mode was asked for by, as the user wrote it."""
    return "LINGMA_ATTACH" if settings.attach and settings.attach.strip() else "LINGMA_SOCKET_PORT"


def describe_target(settings: CoreSettings) -> str | None:
    """Say what attach mode looks for (`auto`, a port, `unix:<path>`), None when not attaching."""
    wanted = target(settings)
    if wanted is None:
        return None
    if wanted == AUTO:
        return AUTO
    return str(wanted) if isinstance(wanted, int) else f"unix:{tilde(wanted)}"


def resolve(settings: CoreSettings, home: Path | None = None) -> Endpoint:
    """Return the endpoint to connect to now; raise LingmaNotReadyError saying what was looked for."""
    wanted = target(settings)
    if wanted is None:
        raise LingmaNotReadyError("attach mode is not configured (LINGMA_ATTACH is unset)")
    if wanted == AUTO:
        search = desktop.find_running(home)
        if search.found is None:
            raise LingmaNotReadyError(
                "LINGMA_ATTACH=auto found no running Lingma or Qoder CN desktop: " + search.summary()
                + ". Start the desktop app (and log in), or set LINGMA_ATTACH to its port or socket")
        found = search.found
        log.info("LINGMA_ATTACH=auto: using the %s at %s (found in %s%s)", found.runtime or "Lingma",
                 found.describe(), found.source, f", pid {found.pid}" if found.pid else "")
        return found
    name = setting_name(settings)
    endpoint = (Endpoint(port=wanted, source=name) if isinstance(wanted, int)
                else Endpoint(path=wanted, source=name))
    if not endpoint.answers():
        shown = wanted if isinstance(wanted, int) else tilde(wanted)
        raise LingmaNotReadyError(
            f"{name}={shown} is set but nothing accepts connections on {endpoint.describe()}; start"
            f" Lingma there, or unset {name} to let the gateway spawn its own")
    return endpoint
