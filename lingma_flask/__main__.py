"""The command line: `lingma-flask serve|doctor|simulator ...` (also `python -m lingma_flask`).

`serve` and `simulator` hand every argument after their name on to gunicorn and to the
simulator's own command line.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
from typing import NoReturn

DEFAULT_TIMEOUT = 60.0
# gunicorn.conf.py, linked into the package so an installed copy carries it.
GUNICORN_CONFIG = "python:lingma_flask.gunicorn_conf"
# wsgi.py's app, built by the factory: an installed copy has no wsgi.py.
APP = "lingma_flask:create_app()"
SIMULATOR = "lingma_flask.simulator"


def positive(value: str) -> float:
    """Parse a positive number of seconds."""
    seconds = float(value)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {value}")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every subcommand: serve, doctor, simulator."""
    parser = argparse.ArgumentParser(prog="lingma-flask", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve", add_help=False,
        help="run the gateway under gunicorn with the shipped gunicorn.conf.py"
             " (gunicorn's options follow; `serve --help` lists them)")
    serve.set_defaults(handler=run_serve, forward=[])
    add_doctor(commands)
    add_usage(commands)
    add_db(commands)
    simulator = commands.add_parser(
        "simulator", add_help=False,
        help="the built-in fake Lingma: start|status|version (`simulator --help` for more)")
    simulator.set_defaults(handler=run_simulator, forward=[])
    return parser


def add_doctor(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the doctor's subcommand and its options."""
    doctor = commands.add_parser(
        "doctor", help="check a running gateway with the official openai and anthropic SDKs"
                       " (--lingma: check your own Lingma)",
        description="Ask every API of a running gateway a few questions through the official"
                    " SDKs and print one pass/fail row per check; exit 1 if any check fails."
                    " The SDKs come with `pip install lingma-flask[doctor]`. With --lingma, check"
                    " your own Lingma instead (no gateway, no SDK): find or attach to it, initialize,"
                    " login, models and a short chat each way it speaks, and write a redacted"
                    " transcript of every frame for a bug report.")
    what = doctor.add_mutually_exclusive_group(required=True)
    what.add_argument("--base-url",
                      help="the gateway's URL, e.g. http://127.0.0.1:8000 (with or without /v1)")
    what.add_argument("--lingma", action="store_true",
                      help="check your own Lingma (the binary, or a running desktop) instead of a gateway")
    doctor.add_argument("--bin", help="--lingma: the Lingma binary to start (default: as the gateway finds it:"
                                      " LINGMA_BIN, ~/.lingma/bin, PATH, else a running desktop)")
    doctor.add_argument("--attach", help="--lingma: attach to a running Lingma instead: auto, a port,"
                                         " or a Unix socket path (default: LINGMA_ATTACH)")
    doctor.add_argument("--work-dir", help="--lingma: the work dir to start Lingma in (default: a temporary"
                                           " one, removed after)")
    doctor.add_argument("--out", help="--lingma: where to write the redacted transcript"
                                      " (default: lingma-doctor-<time>.txt in the temp folder)")
    doctor.add_argument("--api-key", default=os.environ.get("LINGMA_GATEWAY_KEY") or "none",
                        help="one of the gateway's LINGMA_API_KEYS (default: $LINGMA_GATEWAY_KEY,"
                             " else none, for a local gateway without keys)")
    doctor.add_argument("--model",
                        help="the model to ask (default: the first id GET /v1/models lists)")
    doctor.add_argument("--timeout", type=positive, default=DEFAULT_TIMEOUT,
                        help="seconds each request may take; a check gives up after twice that"
                             f" (default {DEFAULT_TIMEOUT:g})")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON instead")
    doctor.set_defaults(handler=run_doctor)


def add_usage(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `usage`: what the store recorded, per day and key (or request by request)."""
    usage = commands.add_parser(
        "usage", help="usage per API key from the store: requests and estimated tokens per day",
        description="Print the requests, errors and estimated tokens per day and API key name that"
                    " the gateway recorded (the store the gateway's settings name: LINGMA_DATABASE_URL,"
                    " DATABASE_URL, else SQLite in LINGMA_WORK_DIR). Run it as the gateway's user.")
    usage.add_argument("--since", default="7d",
                       help="an age (30m, 12h, 7d, 2w) or an ISO date or time, UTC (default 7d)")
    usage.add_argument("--key", help="only this API key's name (\"local\": requests without a key)")
    usage.add_argument("--requests", action="store_true",
                       help="list the requests themselves, newest first, instead of the daily totals")
    usage.add_argument("--limit", type=int, default=100, help="requests listed at most (default 100, up to 1000)")
    usage.add_argument("--csv", action="store_true", help="print CSV (with a header line) instead of a table")
    usage.set_defaults(handler=run_usage)


def add_db(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `db upgrade`: migrate the store's database, as every worker does when it starts."""
    db = commands.add_parser("db", help="the store's database: `db upgrade` migrates it to this version")
    actions = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("upgrade", help="migrate the database to the newest schema (under the workers' lock)")
    db.set_defaults(handler=run_db)


def run_usage(args: argparse.Namespace) -> int:
    """Print the store's usage."""
    from .store.cli import run_usage as usage

    return usage(args.since, args.key, args.csv, args.requests, args.limit)


def run_db(args: argparse.Namespace) -> int:
    """Run a `db` action (upgrade)."""
    from .store.cli import run_upgrade

    return run_upgrade()


def run_serve(args: argparse.Namespace) -> NoReturn:
    """Become gunicorn (same pid, so signals reach its master) serving the app."""
    command = [sys.executable, "-m", "gunicorn", "-c", GUNICORN_CONFIG, *args.forward, APP]
    sys.stdout.flush()
    os.execv(sys.executable, command)


def run_simulator(args: argparse.Namespace) -> int:
    """Run `python -m lingma_flask.simulator` with the forwarded arguments, in this process."""
    sys.argv = ["lingma-flask simulator", *args.forward]
    runpy.run_module(SIMULATOR, run_name="__main__", alter_sys=True)
    return 0


def run_doctor(args: argparse.Namespace) -> int:
    """Run the doctor with the parsed options."""
    if args.lingma:
        return run_lingma_doctor(args)
    from .doctor.checkup import Settings
    from .doctor.checkup import checkup

    settings = Settings(args.base_url, args.api_key, args.model, args.timeout, args.json)
    try:
        return checkup(settings, sys.stdout)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def run_lingma_doctor(args: argparse.Namespace) -> int:
    """Run `doctor --lingma`: check the user's own Lingma and write the redacted transcript."""
    from .doctor.lingma_check import Options
    from .doctor.lingma_check import check_lingma

    options = Options(bin=args.bin, attach=args.attach, work_dir=args.work_dir, out=args.out,
                      timeout=args.timeout, json=args.json)
    try:
        return check_lingma(options, sys.stdout)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run its subcommand; return the exit status."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not hasattr(args, "forward"):
        parser.error("unrecognized arguments: " + " ".join(rest))
    if rest:
        args.forward = rest
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
