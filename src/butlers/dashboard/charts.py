"""Charts drawn on the server as SVG (no JavaScript): the spend page's cost per butler per day.

The template draws the shapes computed here; colours come from a fixed palette,
one per butler, in name order, so a butler keeps its colour between pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from butlers.fleet_views import DaySpend

PALETTE = ("#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#e53935", "#00897b", "#6d4c41", "#3949ab")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 240, 56, 28, 12


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str  # shown on hover: day, butler, cost


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class StackedChart:
    width: int
    height: int
    bars: list[Bar]
    x_labels: list[Label]
    y_labels: list[Label]
    legend: list[tuple[str, str]]  # (butler, colour)
    empty: bool


def colours(butlers: list[str]) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(sorted(butlers))}


def cost_per_day(rows: list[DaySpend], first: date, last: date, butlers: list[str]) -> StackedChart:
    """One stacked bar per day from `first` to `last`: each butler's cost that day."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    per_day: dict[date, list[DaySpend]] = {d: [] for d in days}
    for row in rows:
        if row.day in per_day:
            per_day[row.day].append(row)
    top = max((sum(r.cost_usd for r in day_rows) for day_rows in per_day.values()), default=0.0) or 1.0
    palette = colours(butlers)
    slot = (WIDTH - LEFT) / max(len(days), 1)
    scale = (HEIGHT - BOTTOM - TOP) / top
    bars: list[Bar] = []
    for i, day in enumerate(days):
        base = float(HEIGHT - BOTTOM)
        for row in sorted(per_day[day], key=lambda r: r.butler):
            height = row.cost_usd * scale
            base -= height
            title = f"{day.isoformat()} {row.butler}: ${row.cost_usd:.4f} ({row.sessions} sessions)"
            bars.append(Bar(LEFT + i * slot + 1, base, max(slot - 2, 1), height, palette[row.butler], title))
    every = max(len(days) // 8, 1)
    x_labels = [Label(LEFT + i * slot + slot / 2, HEIGHT - 8, d.strftime("%m-%d")) for i, d in enumerate(days)
                if i % every == 0]  # fmt: skip
    y_labels = [Label(LEFT - 6, HEIGHT - BOTTOM - f * (HEIGHT - BOTTOM - TOP) + 4, f"${top * f:.2f}")
                for f in (0.0, 0.5, 1.0)]  # fmt: skip
    legend = [(name, palette[name]) for name in sorted(butlers)]
    return StackedChart(WIDTH, HEIGHT, bars, x_labels, y_labels, legend, empty=not rows)
