"""Command line: `start`, `status -o json`, `version` — the sub-commands of the real binary."""

from __future__ import annotations

import argparse
import json
import sys

from . import VERSION
from .config import DEFAULT_HTTP_PORT
from .config import DEFAULT_SOCKET_PORT
from .config import PROTOCOLS
from .workdir import WorkDir


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (flag names as the real Lingma spells them)."""
    parser = argparse.ArgumentParser(prog="lingma-simulator", description="A fake Tongyi Lingma.")
    sub = parser.add_subparsers(dest="command", metavar="{start,status,version}")
    sub.required = True
    start = sub.add_parser("start", help="run the simulated Lingma")
    start.add_argument("--workDir", required=True)
    start.add_argument("--socketPort", type=int, default=DEFAULT_SOCKET_PORT)
    start.add_argument("--httpPort", type=int, default=DEFAULT_HTTP_PORT)
    start.add_argument("--transportType", default="websocket")
    start.add_argument("--endpoint", default="")
    start.add_argument("--copyDataDir", default="")
    start.add_argument("--unixSocket", default="",
                       help="also serve the WebSocket on this Unix socket (a desktop's qodercn.sock)")
    start.add_argument("--protocol", choices=PROTOCOLS, default=None,
                       help="classic (default: LINGMA_SIM_PROTOCOL) or acp (the desktop's ACP-style API)")
    status = sub.add_parser("status", help="print login state")
    status.add_argument("-o", "--output", default="text", choices=("text", "json"))
    status.add_argument("--workDir", required=True)
    sub.add_parser("version", help="print the version")
    return parser


def status(args) -> int:
    """Print `logged_in`, `version`, `username`, `user_type`."""
    workdir = WorkDir(args.workDir)
    logged_in = workdir.logged_in()
    account = workdir.account() if logged_in else {}
    doc = {"logged_in": logged_in, "version": VERSION, "username": account.get("name", ""),
           "user_type": account.get("userType", "")}
    if args.output == "json":
        print(json.dumps(doc))
    else:
        for key, value in doc.items():
            print(f"{key}: {value}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the sub-command; return the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "version":
        print(f"version: {VERSION}")
        return 0
    if args.command == "status":
        return status(args)
    if args.transportType != "websocket":
        print(f"lingma simulator: transport {args.transportType!r} not simulated, using websocket",
              file=sys.stderr)
    from .app import start
    return start(args)
