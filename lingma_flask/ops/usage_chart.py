"""The status page's usage chart: requests and estimated tokens per key per day, as inline SVG.

Rendered on the server from the store's daily totals; no script and no style attribute (the
page's Content-Security-Policy allows neither inline), only SVG presentation attributes and
the page's classes. Each key is one `<g class="series" data-key="...">` in each panel, with
a `<title>` per point for the numbers. At most SERIES keys are drawn (the busiest); the rest
are summed as OTHERS.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from collections.abc import Mapping
from html import escape
from typing import Any

PALETTE = ("#0b62c4", "#c4420b", "#2f8a3b", "#8a2fa8", "#a37400", "#0b7f8a", "#b0305f", "#5b6673")
SERIES = len(PALETTE)
OTHERS = "(other keys)"
WIDTH = 640
PANEL = 150          # height of one panel
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 22, 22   # margins inside a panel
LEGEND_ROW = 20
PANELS = (("requests", "Requests per day"), ("tokens", "Estimated tokens per day (in + out)"))


def days_between(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    """Every day from `first` to `last`, both included."""
    count = max(0, (last - first).days) + 1
    return [first + datetime.timedelta(days=n) for n in range(count)]


def series(daily: Iterable[Mapping[str, Any]], days: list[datetime.date]) -> dict[str, dict[str, list[int]]]:
    """{key: {"requests": [n per day], "tokens": [n per day]}}, the busiest keys first (OTHERS last)."""
    index = {day: n for n, day in enumerate(days)}
    totals: dict[str, dict[str, list[int]]] = {}
    for row in daily:
        at = index.get(_day(row["day"]))
        if at is None:
            continue
        values = totals.setdefault(str(row["key"]), {"requests": [0] * len(days), "tokens": [0] * len(days)})
        values["requests"][at] += int(row["requests"] or 0)
        values["tokens"][at] += int(row["prompt_tokens"] or 0) + int(row["completion_tokens"] or 0)
    ranked = sorted(totals, key=lambda k: (-sum(totals[k]["requests"]), k))
    if len(ranked) <= SERIES:
        return {key: totals[key] for key in ranked}
    shown = {key: totals[key] for key in ranked[:SERIES - 1]}
    rest = {"requests": [0] * len(days), "tokens": [0] * len(days)}
    for key in ranked[SERIES - 1:]:
        for name in rest:
            rest[name] = [a + b for a, b in zip(rest[name], totals[key][name], strict=True)]
    shown[OTHERS] = rest
    return shown


def chart_svg(daily: Iterable[Mapping[str, Any]], days: list[datetime.date]) -> str:
    """The chart's SVG markup (a string ready to be inserted into the page as it is)."""
    lines = series(daily, days)
    height = PANEL * len(PANELS) + LEGEND_ROW * max(1, len(lines)) + 8
    out = [f'<svg class="usage-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}"'
           f' role="img" aria-label="Requests and estimated tokens per key per day">']
    for n, (name, title) in enumerate(PANELS):
        out.extend(_panel(lines, days, name, title, n * PANEL))
    legend_top = PANEL * len(PANELS)
    for n, key in enumerate(lines):
        y = legend_top + n * LEGEND_ROW + 14
        out.append(f'<g class="legend" data-key="{escape(key)}"><rect x="{LEFT}" y="{y - 10}" width="12"'
                   f' height="12" fill="{PALETTE[n % SERIES]}"/><text x="{LEFT + 18}" y="{y}">{escape(key)}'
                   f' — {sum(lines[key]["requests"])} requests, {sum(lines[key]["tokens"])} tokens</text></g>')
    if not lines:
        out.append(f'<text class="empty" x="{LEFT}" y="{legend_top + 14}">No requests in these days.</text>')
    out.append("</svg>")
    return "".join(out)


def _panel(lines: dict[str, dict[str, list[int]]], days: list[datetime.date], name: str, title: str,
           top: int) -> list[str]:
    peak = max([max(values[name], default=0) for values in lines.values()] + [1])
    inner_w, inner_h = WIDTH - LEFT - RIGHT, PANEL - TOP - BOTTOM
    base = top + TOP + inner_h

    def x(n: int) -> float:
        return LEFT + (inner_w * n / (len(days) - 1) if len(days) > 1 else inner_w / 2)

    def y(value: int) -> float:
        return base - inner_h * value / peak

    out = [f'<g class="panel" data-panel="{name}"><text class="title" x="{LEFT}" y="{top + 14}">{escape(title)}</text>',
           f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="#9aa5b1"/>',
           f'<line class="axis" x1="{LEFT}" y1="{top + TOP}" x2="{LEFT}" y2="{base}" stroke="#9aa5b1"/>',
           f'<text class="tick" x="{LEFT - 6}" y="{top + TOP + 4}" text-anchor="end">{_short(peak)}</text>',
           f'<text class="tick" x="{LEFT - 6}" y="{base + 4}" text-anchor="end">0</text>']
    if days:
        out.append(f'<text class="tick" x="{LEFT}" y="{base + 16}">{days[0].isoformat()}</text>')
        if len(days) > 1:
            out.append(f'<text class="tick" x="{WIDTH - RIGHT}" y="{base + 16}" text-anchor="end">'
                       f'{days[-1].isoformat()}</text>')
    for n, (key, values) in enumerate(lines.items()):
        color = PALETTE[n % SERIES]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values[name]))
        out.append(f'<g class="series" data-key="{escape(key)}"><polyline points="{points}" fill="none"'
                   f' stroke="{color}" stroke-width="2"/>')
        for i, value in enumerate(values[name]):
            out.append(f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="3" fill="{color}"><title>{escape(key)},'
                       f' {days[i].isoformat()}: {value} {escape(name)}</title></circle>')
        out.append("</g>")
    out.append("</g>")
    return out


def _short(value: int) -> str:
    """A number as an axis label: 950, 12k, 3.4M."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value // 1000}k"
    return str(value)


def _day(value: Any) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(str(value)[:10])
