"""The `--httpPort` server: the login callback and the `/sim/*` control endpoints."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qs
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .app import Sim

LOGIN_PAGE = b"<html><body>Login complete (Lingma simulator). You may close this page.</body></html>"
FAILED_PAGE = b"<html><body>Login failed: unknown or missing state or code.</body></html>"
INIT_MODES = ("ok", "silent", "error")


class ControlHandler(BaseHTTPRequestHandler):
    """GET routes: /auth/callback and /sim/state, /sim/login, /sim/logout, /sim/reset,
    /sim/sessions, /sim/init."""

    server_version = "LingmaSim"
    sim: Sim  # set on the subclass built by ControlServer

    def do_GET(self):  # noqa: N802 (http.server API)
        """Route one GET request."""
        url = urlsplit(self.path)
        self.query = parse_qs(url.query)
        route = self._routes().get(url.path)
        if route is not None:
            return route()
        return self._json(404, {"error": "not found", "path": url.path})

    def _routes(self) -> dict:
        return {"/sim/state": self._state, "/sim/login": self._login, "/sim/logout": self._logout,
                "/sim/reset": self._reset, "/sim/sessions": self._sessions,
                "/sim/init": self._init, "/auth/callback": self._callback}

    def _state(self):
        try:
            limit = int(self.query.get("limit", ["-1"])[0])
        except ValueError:
            limit = -1
        doc = self.sim.state.snapshot(logged_in=self.sim.logged_in(), limit=limit)
        doc["protocol"] = self.sim.config.protocol
        self._json(200, doc)

    def _login(self):
        self.sim.login()
        self._json(200, {"logged_in": self.sim.logged_in()})

    def _logout(self):
        self.sim.logout()
        self._json(200, {"logged_in": self.sim.logged_in()})

    def _reset(self):
        self.sim.state.reset()
        self._json(200, {"reset": True})

    def _init(self):
        """Set how later `initialize` requests are met (LINGMA_SIM_INIT), e.g. to end a fault."""
        mode = self.query.get("mode", [""])[0]
        if mode not in INIT_MODES:
            return self._json(400, {"error": f"mode must be one of {', '.join(INIT_MODES)}"})
        self.sim.init_mode = mode
        self.sim.log.info("initialize mode set to %s", mode)
        self._json(200, {"init": mode})

    def _sessions(self):
        self._json(200, self.sim.state.session_history())

    def _callback(self):
        """The browser's return from the login page: completes an outstanding login state."""
        code = self.query.get("code", [""])[0]
        state = self.query.get("state", [""])[0]
        if not code or not state or not self.sim.logins.complete(state):
            self.sim.log.warning("login callback refused: unknown or missing state or code")
            return self._send(400, "text/html; charset=utf-8", FAILED_PAGE)
        self.sim.login()
        self._send(200, "text/html; charset=utf-8", LOGIN_PAGE)

    def _json(self, status: int, doc) -> None:
        self._send(status, "application/json", json.dumps(doc, ensure_ascii=False).encode())

    def _send(self, status: int, ctype: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 (http.server API)
        """Route access logs to lingma.log instead of stderr."""
        self.sim.log.debug("http: " + format, *args)


class ControlServer:
    """A `ThreadingHTTPServer` on an already bound socket."""

    def __init__(self, sim, sock):
        handler = type("BoundControlHandler", (ControlHandler,), {"sim": sim})
        self.httpd = ThreadingHTTPServer(sock.getsockname(), handler, bind_and_activate=False)
        self.httpd.socket.close()
        self.httpd.socket = sock
        self.httpd.daemon_threads = True
        self.port = sock.getsockname()[1]
        self._started = False

    def start(self) -> None:
        """Listen and serve in a background thread."""
        self.httpd.server_activate()
        self._started = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                         name="sim-http", daemon=True).start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._started:
            self.httpd.shutdown()
        self.httpd.server_close()
