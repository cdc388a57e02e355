"""A TCP relay on loopback that counts the connections it accepts (to see a proxy reuse them)."""

from __future__ import annotations

import socket
import threading


class CountingRelay:
    """Accept on 127.0.0.1, pipe each connection to `target` both ways, and count them."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.accepted = 0
        self._server = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self._server.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []

    def start(self) -> CountingRelay:
        """Accept connections in a background thread."""
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                near, _ = self._server.accept()
            except OSError:   # stop() closed the listening socket
                return
            try:
                far = socket.create_connection(self.target, timeout=10)
            except OSError:
                near.close()
                continue
            far.settimeout(None)
            with self._lock:
                self.accepted += 1
                self._sockets += [near, far]
            for src, dst in ((near, far), (far, near)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)   # pass the half-close on
        except OSError:
            pass

    def stop(self) -> None:
        """Stop accepting and close every relayed connection."""
        self._server.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)   # wakes the pipes blocked in recv
                except OSError:
                    pass
                sock.close()
