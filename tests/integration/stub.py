"""Tiny HTTP servers for the tests: one fixed answer to every request; an alert webhook."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer


class StubServer:
    """Answer every request on 127.0.0.1 with `status` and a JSON `body`; record the requests."""

    def __init__(self, status: int, body: bytes = b"{}"):
        self.requests: list[dict] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(status, body))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def _handler(self, status, body):
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                requests.append({"method": self.command, "path": self.path,
                                 "version": self.request_version, "headers": dict(self.headers)})
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):  # keep the test output clean
                pass

        return Handler

    def start(self) -> StubServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()


SECRET_PATH = "/hooks/T0/s3cr3t-token"   # a webhook URL's path carries its secret


class Webhook(BaseHTTPRequestHandler):
    """An alert webhook that records the path and JSON body of every POST to it."""

    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def texts(received) -> list[str]:
    """The alert texts a `Webhook` received, in order."""
    return [body["text"] for _, body in received]
