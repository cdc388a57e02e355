"""Shared helpers for the benchmarks: a simulator process, stamps, percentiles."""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STAMP_WIDTH = 20  # the simulator's stamp chunks: 20 digits of monotonic_ns, then "|"


def start_simulator(env_note: str = ""):
    """Start one simulator process; return (LingmaProcess, temp dir object)."""
    from lingma_flask.lingma import process

    tmp = tempfile.TemporaryDirectory(prefix="lingma-bench-")
    proc = process.LingmaProcess(process.simulator_command(), Path(tmp.name) / "sim", startup_timeout=30)
    proc.start()
    return proc, tmp


def stamps_in(text: str) -> list[int]:
    """Return the send stamps (ns) found in a chunk of stamp-mode answer text."""
    return [int(part) for part in text.split("|") if part.strip().isdigit()]


def median_ms(values_ns) -> float:
    """Median of nanosecond samples, in milliseconds."""
    return statistics.median(values_ns) / 1e6 if values_ns else float("nan")


def pct_ms(values_ns, q: float) -> float:
    """The q-quantile (0..1) of nanosecond samples, in milliseconds."""
    if not values_ns:
        return float("nan")
    ordered = sorted(values_ns)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


def ratio(a: float, b: float) -> str:
    """Format a/b as a ratio."""
    return f"{a / b:.2f}x" if b else "n/a"
