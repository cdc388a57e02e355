"""Run every check against one gateway, print the table as rows finish, return the exit status."""

from __future__ import annotations

import dataclasses
from typing import TextIO

from . import chat
from . import completions
from . import messages
from . import models
from . import responses
from .report import PASS
from .report import SKIP
from .report import Row
from .report import Widths
from .report import as_json
from .report import exit_status
from .report import format_header
from .report import format_row
from .report import summary
from .runner import run_check
from .target import Target
from .target import gateway_root
from .target import preload

CHECKS = chat.CHECKS + responses.CHECKS + messages.CHECKS + completions.CHECKS
REQUESTS_PER_CHECK = 2   # a round trip asks twice; each request has the whole timeout


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the command line gave: the gateway, key, model (None: the first listed), timeout."""

    base_url: str
    api_key: str
    model: str | None
    timeout: float
    json: bool = False


class Printer:
    """Writes the table line by line as checks finish (nothing until the end with --json)."""

    def __init__(self, out: TextIO, quiet: bool):
        self.out, self.quiet = out, quiet
        self.widths = Widths.of([("models", "list")] + [(c.api, c.name) for c in CHECKS])

    def line(self, text: str) -> None:
        """Print one line of the human report, at once."""
        if not self.quiet:
            print(text, file=self.out, flush=True)

    def row(self, row: Row) -> Row:
        """Print a finished row and hand it back."""
        self.line(format_row(row, self.widths))
        return row


def checkup(settings: Settings, out: TextIO) -> int:
    """Check the gateway, report to `out`, and return 0 when every check passed, else 1."""
    target = Target(gateway_root(settings.base_url), settings.api_key, settings.model,
                    settings.timeout)
    printer = Printer(out, settings.json)
    versions = preload("openai", "anthropic")
    printer.line(f"lingma-flask doctor: {target.root} ({versions},"
                 f" timeout {settings.timeout:g}s)")
    printer.line("")
    printer.line(format_header(printer.widths))
    model_row, target = choose_model(target)
    rows = [printer.row(model_row)] + [printer.row(run(check, target)) for check in CHECKS]
    printer.line("")
    printer.line(summary(rows))
    if settings.json:
        print(as_json(rows, target.root, target.model), file=out, flush=True)
    return exit_status(rows)


def run(check, target: Target) -> Row:
    """Run one check, or skip it when there is no model to ask."""
    if target.model is None:
        return Row(check.api, check.name, SKIP, 0.0, "no model to ask: pass --model")
    deadline = target.timeout * REQUESTS_PER_CHECK
    return run_check(check.api, check.name, lambda: check.run(target), deadline)


def choose_model(target: Target) -> tuple[Row, Target]:
    """List the models (a check of its own); the target gets the given or first listed model."""
    found: list[str] = []

    def listing() -> str:
        found.extend(models.list_models(target))
        return models.describe_choice(found, target.model)

    row = run_check("models", "list", listing, target.timeout)
    if target.model is None and row.status == PASS:
        target = dataclasses.replace(target, model=found[0])
    return row, target
