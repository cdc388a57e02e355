"""Writing a whole buffer to a socket in one system call when the kernel takes it all.

gevent's `sendall` asks the socket for its send-buffer size before every write (a second
system call); the writes of a chat (a WebSocket batch to Lingma, an SSE chunk to a client) are
small and nearly always fit, so one `send` does them, and `sendall` finishes the rare rest.
"""

from __future__ import annotations

import socket


def send_all(sock: socket.socket, data: bytes) -> None:
    """Write all of `data` to `sock` (blocking as `sendall` does); raise OSError as it does."""
    sent = sock.send(data)
    if sent < len(data):
        sock.sendall(memoryview(data)[sent:])
