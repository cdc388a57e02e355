"""The doctor's rows and how they are shown: a fixed-width table, a summary line, JSON."""

from __future__ import annotations

import dataclasses
import json

PASS = "PASS"
FAIL = "FAIL"
SKIP = "SKIP"
HEADINGS = ("API", "CHECK", "RESULT", "TIME", "DETAIL")


@dataclasses.dataclass(frozen=True)
class Row:
    """The outcome of one check: its API and name, PASS/FAIL/SKIP, seconds taken, one line."""

    api: str
    check: str
    status: str
    seconds: float
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class Widths:
    """Column widths of the table, known before the first row is run."""

    api: int
    check: int

    @classmethod
    def of(cls, names: list[tuple[str, str]]) -> Widths:
        """Fit the API and CHECK columns to every (api, check) name and the headings."""
        return cls(max([len(HEADINGS[0])] + [len(api) for api, _ in names]),
                   max([len(HEADINGS[1])] + [len(check) for _, check in names]))


def format_header(widths: Widths) -> str:
    """Return the headings line."""
    api, check, result, took, detail = HEADINGS
    return f"{api:<{widths.api}}  {check:<{widths.check}}  {result:<6}  {took:>7}  {detail}"


def format_row(row: Row, widths: Widths) -> str:
    """Return one row as a table line."""
    took = f"{row.seconds:.2f}s"
    line = f"{row.api:<{widths.api}}  {row.check:<{widths.check}}  {row.status:<6}  {took:>7}"
    return f"{line}  {row.detail}" if row.detail else line


def summary(rows: list[Row]) -> str:
    """Return the closing line: all passed, or how many failed (and were skipped)."""
    failed = sum(row.status == FAIL for row in rows)
    skipped = sum(row.status == SKIP for row in rows)
    if not failed and not skipped:
        return f"all {len(rows)} checks passed"
    line = f"{failed} of {len(rows)} checks failed"
    return line + (f", {skipped} skipped" if skipped else "")


def exit_status(rows: list[Row]) -> int:
    """Return 0 when every check passed, else 1 (a skipped check did not pass)."""
    return 0 if rows and all(row.status == PASS for row in rows) else 1


def as_json(rows: list[Row], base_url: str, model: str | None) -> str:
    """Return the whole report as one JSON document."""
    return json.dumps({
        "base_url": base_url, "model": model, "ok": exit_status(rows) == 0,
        "checks": [dataclasses.asdict(row) for row in rows],
    }, ensure_ascii=False, indent=2)
