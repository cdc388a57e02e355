"""Where a running Lingma listens: a WebSocket port on 127.0.0.1, or a Unix socket's path.

An `Endpoint` is what attach mode connects to (attach.py) and what a running desktop
advertises (desktop.py). Its description never holds a token and shows the home folder as
`~`, so it may appear in logs, /health and /ready.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path


def tilde(path: str | os.PathLike[str], home: Path | None = None) -> str:
    """Return `path` with the home folder written `~` (a user name stays out of public answers)."""
    text = str(path)
    home_text = str(home if home is not None else Path.home())
    if home_text and home_text != os.sep and (text == home_text or text.startswith(home_text + os.sep)):
        return "~" + text[len(home_text):]
    return text


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A Lingma to connect to: `port` (TCP on 127.0.0.1) or `path` (a Unix socket), and its origin.

    `source` says how it was chosen (a setting's name, or the `.info` file or socket it was
    found at, `~`-relative), `pid` is the process that advertised it when known, `runtime`
    names that process's kind ("Qoder CN desktop", "JetBrains plugin", ...).
    """

    port: int | None = None
    path: str | None = None
    source: str = ""
    pid: int | None = None
    runtime: str = ""

    @property
    def address(self) -> int | str:
        """What `wsframes.open_websocket` dials: the port (an int) or the socket's path (a str)."""
        if self.path is not None:
            return self.path
        if self.port is None:
            raise ValueError("an Endpoint needs a port or a path")
        return self.port

    def describe(self) -> str:
        """`127.0.0.1:<port>` or `unix:<path>` (home as `~`)."""
        return f"unix:{tilde(self.path)}" if self.path is not None else f"127.0.0.1:{self.port}"

    def answers(self, timeout: float = 1.0) -> bool:
        """Tell whether something accepts connections there now."""
        return answers(self.address, timeout)


def answers(address: int | str, timeout: float = 1.0) -> bool:
    """Tell whether 127.0.0.1:`address` (an int) or the Unix socket at `address` accepts a connection."""
    if isinstance(address, int):
        try:
            with socket.create_connection(("127.0.0.1", address), timeout=timeout):
                return True
        except OSError:
            return False
    family = getattr(socket, "AF_UNIX", None)
    if family is None:   # a Windows Python without AF_UNIX
        return False
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(address)
        return True
    except OSError:
        return False
    finally:
        sock.close()
