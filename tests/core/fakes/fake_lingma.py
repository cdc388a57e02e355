"""A tiny stand-in for the Lingma binary: `fake_lingma.py [--mode M] start --workDir D --socketPort P --httpPort H`.

Modes: `normal` (listen on P, then write `D/.info`), `info-early` (write `.info` first, listen
after FAKE_LINGMA_DELAY), `info-json` (write `.info.json` instead), `grandchild` (also spawn a
grandchild in the same group and record its pid in `D/grandchild.pid`), `detached` (also start
a helper in a session of its own, naming D on its command line, and write *its* pid into
`.info`, like a binary that daemonizes), `stubborn` (ignore SIGTERM), `silent` (never write
`.info`), `crash` (print an error and exit 3).
FAKE_LINGMA_DELAY (seconds) delays readiness; `info-early` with FAKE_LINGMA_NEVER_LISTEN=1
never listens.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text)
    os.replace(partial, path)


def write_info(work_dir: Path, port: int, as_json: bool, pid: int | None = None) -> None:
    pid = pid or os.getpid()
    if as_json:
        write_atomic(work_dir / ".info.json", json.dumps({"websocketPort": port, "pid": pid}))
    else:
        write_atomic(work_dir / ".info", f"{port}\n{pid}\n")


def listen(port: int) -> socket.socket:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(16)
    return server


def serve(server: socket.socket) -> None:
    while True:
        conn, _ = server.accept()
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="normal")
    parser.add_argument("command")
    parser.add_argument("--workDir", required=True)
    parser.add_argument("--socketPort", type=int, required=True)
    parser.add_argument("--httpPort", type=int, required=True)
    args = parser.parse_args()
    work_dir = Path(args.workDir)
    delay = float(os.environ.get("FAKE_LINGMA_DELAY", "0"))
    print(f"fake lingma {args.mode} pid {os.getpid()} cwd {os.getcwd()}", flush=True)
    if args.mode == "crash":
        print("fatal: cannot open cache/db/local.db", file=sys.stderr, flush=True)
        return 3
    if args.mode == "silent":
        signal.pause()
    if args.mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.mode == "grandchild":
        child = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"])
        write_atomic(work_dir / "grandchild.pid", str(child.pid))
    info_pid = None
    if args.mode == "detached":
        daemon = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()",
                                   "--workDir", str(work_dir)], start_new_session=True)
        info_pid = daemon.pid
    if args.mode == "info-early":
        write_info(work_dir, args.socketPort, False)
        time.sleep(delay)
        if os.environ.get("FAKE_LINGMA_NEVER_LISTEN"):
            signal.pause()
        serve(listen(args.socketPort))
    time.sleep(delay)
    server = listen(args.socketPort)
    write_info(work_dir, args.socketPort, args.mode == "info-json", info_pid)
    serve(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
