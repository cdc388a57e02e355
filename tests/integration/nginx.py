"""Run Debian's nginx unprivileged-style, in the foreground, with the documented site config."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from lingma_flask.lingma import procutil

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "docs" / "deploy" / "nginx.conf"

UPSTREAM_SERVER = re.compile(r"^(\s*server\s+)([^\s;{]+)(.*;\s*)$")
LISTEN = re.compile(r"^(\s*listen\s+)([^\s;]+)(.*;\s*)$")

# What Debian's /etc/nginx/nginx.conf gives a site, with paths inside the prefix. gzip is on
# for event streams and JSON, as a main config may have it: the site must turn it off.
MAIN_CONF = """\
{user}worker_processes 1;
events {{ worker_connections 256; }}
http {{
    default_type application/octet-stream;
    access_log access.log;
    client_body_temp_path temp/body;
    proxy_temp_path temp/proxy;
    fastcgi_temp_path temp/fastcgi;
    uwsgi_temp_path temp/uwsgi;
    scgi_temp_path temp/scgi;
    gzip on;
    gzip_types application/json text/event-stream;
    include site.conf;
}}
"""


def site_for(text: str, upstreams: list[str], port: int) -> str:
    """Point the site's upstream `server` lines at `upstreams` and its first `listen` at `port`.

    The i-th `server` line gets the i-th address (its parameters stay); the first `listen`
    becomes 127.0.0.1:`port` and later ones are dropped. Everything else is kept verbatim.
    """
    servers = iter(upstreams)
    lines, listens, swapped = [], 0, 0
    for line in text.splitlines():
        if match := UPSTREAM_SERVER.match(line):
            line = match.group(1) + next(servers) + match.group(3)
            swapped += 1
        elif match := LISTEN.match(line):
            listens += 1
            if listens > 1:
                continue
            line = match.group(1) + f"127.0.0.1:{port}" + match.group(3)
        lines.append(line)
    if swapped != len(upstreams) or listens == 0:
        raise ValueError(f"the site has {swapped} upstream servers (want {len(upstreams)}) and {listens} listen lines")
    return "\n".join(lines) + "\n"


def upstream_count(text: str) -> int:
    """Count the upstream `server` lines of a site config."""
    return sum(1 for line in text.splitlines() if UPSTREAM_SERVER.match(line))


class Nginx:
    """One nginx master with one worker, serving `site_text` on 127.0.0.1:`port` from `prefix`."""

    def __init__(self, binary: str, prefix: Path, site_text: str, port: int):
        self.binary = binary
        self.prefix = prefix
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.error_log = prefix / "error.log"
        (prefix / "temp").mkdir(parents=True)
        (prefix / "site.conf").write_text(site_text)
        # As root the workers would run as nobody, who cannot enter pytest's private tmp dirs.
        user = "user root;\n" if os.geteuid() == 0 else ""
        (prefix / "nginx.conf").write_text(MAIN_CONF.format(user=user))
        self.proc = None

    def start(self, timeout: float = 15.0) -> Nginx:
        """Start nginx in the foreground and wait until it accepts connections."""
        directives = f"daemon off; pid {self.prefix / 'nginx.pid'}; error_log {self.error_log} warn;"
        self.proc = subprocess.Popen(
            [self.binary, "-p", f"{self.prefix}/", "-c", str(self.prefix / "nginx.conf"),
             "-e", str(self.error_log), "-g", directives],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        while not procutil.port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                errors = self.errors()
                self.stop()
                raise RuntimeError(f"nginx did not start:\n{errors}")
            time.sleep(0.05)
        return self

    def errors(self) -> str:
        """Return what nginx wrote to its error log (and stderr, once it has exited)."""
        text = self.error_log.read_text() if self.error_log.exists() else ""
        stderr = self.proc.stderr if self.proc is not None else None
        if stderr and not stderr.closed and self.proc.poll() is not None:
            text += stderr.read()
        return text

    def stop(self, timeout: float = 10.0) -> None:
        """Stop nginx at once (SIGTERM) and wait for it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stderr:
            self.proc.stderr.close()
