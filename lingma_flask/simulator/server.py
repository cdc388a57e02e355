"""The WebSocket listener: 127.0.0.1 only, any path, one `Session` per connection."""

from __future__ import annotations

import logging
import os
import socket
import stat
import threading

from websockets.sync.server import Server
from websockets.sync.server import ServerConnection
from websockets.sync.server import serve

from .session import Session

MAX_MESSAGE = 64 * 1024 * 1024


def bind_unix(path: str) -> socket.socket:
    """Bind (without listening) a Unix socket at `path`, replacing a stale one; OSError if taken."""
    if os.path.exists(path) and stat.S_ISSOCK(os.stat(path).st_mode):
        os.unlink(path)   # a socket file outlives a crash
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
    except OSError:
        sock.close()
        raise
    return sock


def bind(port: int) -> socket.socket:
    """Bind (without listening) a TCP socket on 127.0.0.1; raises OSError when taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


class BatchConnection(ServerConnection):
    """A server connection that can write many messages with one lock and one `sendall`."""

    def send_many(self, items: list[tuple[bytes, bool]], before_write=None) -> None:
        """Send `(data, is_text)` messages in order; `before_write(items)` may patch them last.

        Raises `ConnectionClosed` like `send`.
        """
        with self.send_context():
            if before_write is not None:
                items = before_write(items)
            for data, is_text in items:
                if is_text:
                    self.protocol.send_text(data)
                else:
                    self.protocol.send_binary(data)

    def send_data(self) -> None:
        """Write every pending WebSocket frame with a single `sendall` (then EOF if asked)."""
        chunks = self.protocol.data_to_send()
        payload = b"".join(chunks)
        if payload:
            if self.close_deadline is not None:
                self.socket.settimeout(self.close_deadline.timeout())
            self.socket.sendall(payload)
        if chunks and chunks[-1] == b"":
            try:
                self.socket.shutdown(socket.SHUT_WR)
            except OSError:
                pass


class WsServer:
    """Serves the JSON-RPC WebSocket on an already bound socket."""

    def __init__(self, sim, sock: socket.socket):
        self.sim = sim
        self.sock = sock
        name = sock.getsockname()
        self.port = name[1] if isinstance(name, tuple) else 0   # 0: a Unix socket
        self._server: Server | None = None

    def start(self) -> None:
        """Start listening and accepting in a background thread."""
        self.sock.listen(512)
        server = serve(self._handle, sock=self.sock, compression=None, ping_interval=None,
                       max_size=MAX_MESSAGE, close_timeout=1, open_timeout=10,
                       create_connection=BatchConnection,
                       logger=logging.getLogger("lingma.sim.ws"))
        self._server = server
        threading.Thread(target=server.serve_forever, name="sim-ws", daemon=True).start()

    def _handle(self, conn) -> None:
        Session(self.sim, conn).serve()

    def stop(self) -> None:
        """Close the listener and every connection."""
        if self._server is not None:
            self._server.shutdown()
        else:
            self.sock.close()
