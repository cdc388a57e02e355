"""The command line: `python -m lingma_flask doctor --base-url URL [...]`."""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_TIMEOUT = 60.0


def positive(value: str) -> float:
    """Parse a positive number of seconds."""
    seconds = float(value)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {value}")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every subcommand (today: doctor)."""
    parser = argparse.ArgumentParser(prog="python -m lingma_flask", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    doctor = commands.add_parser(
        "doctor", help="check a running gateway with the official openai and anthropic SDKs",
        description="Ask every API of a running gateway a few questions through the official"
                    " SDKs and print one pass/fail row per check; exit 1 if any check fails.")
    doctor.add_argument("--base-url", required=True,
                        help="the gateway's URL, e.g. http://127.0.0.1:8000 (with or without /v1)")
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
    return parser


def run_doctor(args: argparse.Namespace) -> int:
    """Run the doctor with the parsed options."""
    from .doctor.checkup import Settings
    from .doctor.checkup import checkup

    settings = Settings(args.base_url, args.api_key, args.model, args.timeout, args.json)
    try:
        return checkup(settings, sys.stdout)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run its subcommand; return the exit status."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
