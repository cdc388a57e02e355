"""A scripted Lingma peer for RPC tests: a WebSocket server the test drives frame by frame."""

from __future__ import annotations

import queue
import threading

from websockets.sync.server import serve

from lingma_flask.lingma import framing


class ScriptedPeer:
    """Accepts one client; records every message it sends; lets the test send raw bytes."""

    def __init__(self):
        self.received: queue.Queue = queue.Queue()
        self._conn = None
        self._connected = threading.Event()
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _handle(self, conn):
        self._conn = conn
        self._connected.set()
        decoder = framing.FrameDecoder()
        try:
            for message in conn:
                data = message.encode("utf-8") if isinstance(message, str) else message
                for item in decoder.feed(data):
                    self.received.put(item)
        except Exception:
            pass

    def wait_connected(self, timeout=5.0):
        assert self._connected.wait(timeout), "client never connected"

    def send_bytes(self, data: bytes, text: bool = False):
        """Send one WebSocket message with these bytes."""
        self.wait_connected()
        self._conn.send(data.decode("utf-8") if text else data)

    def send(self, message: dict):
        """Send one message as one framed text WebSocket message."""
        self.send_bytes(framing.encode(message), text=True)

    def expect(self, predicate=lambda m: True, timeout=5.0):
        """Return the next received message matching `predicate` (others are discarded)."""
        while True:
            message = self.received.get(timeout=timeout)
            if predicate(message):
                return message

    def expect_method(self, method, timeout=5.0):
        """Return the next received message with this method."""
        return self.expect(lambda m: m.get("method") == method, timeout)

    def drop(self):
        """Close the client's connection."""
        self._conn.close()

    def close(self):
        """Stop the server."""
        if self._conn is not None:
            self._conn.close()
        self._server.shutdown()
        self._server.socket.close()
        self._thread.join(5)
