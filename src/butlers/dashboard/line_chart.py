"""A line chart as plain SVG geometry, drawn by the server (templates/line_chart.html): no chart script.

Points are placed by their day within the period, so a day without data is a gap in
the x axis rather than a squeezed line; the y axis spans the data with a small margin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 12, 28  # room for the axis labels
COLOURS = ("#1e88e5", "#e53935", "#43a047", "#8e24aa")
Y_TICKS = 4


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    label: str  # shown as the point's tooltip (an SVG <title>)


@dataclass(frozen=True)
class Line:
    name: str
    colour: str
    points: str  # the polyline's "x,y x,y ..."
    dots: tuple[Dot, ...]


@dataclass(frozen=True)
class Tick:
    at: float  # x or y in the SVG's coordinates
    label: str


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    lines: tuple[Line, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    plot: tuple[float, float, float, float]  # left, top, right, bottom of the plotting area


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.1f}"


def _y_range(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 or max(abs(high) * 0.05, 1.0)
    return low - pad, high + pad


def line_chart(first: date, last: date, series: Mapping[str, Sequence[tuple[date, float]]], unit: str) -> LineChart:
    """Each named series of (day, value) over the days `first`..`last`, in one chart."""
    values = [v for points in series.values() for _, v in points]
    low, high = _y_range(values) if values else (0.0, 1.0)
    span_days = max((last - first).days, 1)
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM

    def x(day: date) -> float:
        return round(x0 + (x1 - x0) * (day - first).days / span_days, 1)

    def y(value: float) -> float:
        return round(y1 - (y1 - y0) * (value - low) / (high - low), 1)

    lines = []
    for i, (name, points) in enumerate(series.items()):
        dots = tuple(Dot(x(d), y(v), f"{name} {d.isoformat()}: {_fmt(v)} {unit}") for d, v in points)
        lines.append(Line(name, COLOURS[i % len(COLOURS)], " ".join(f"{p.x},{p.y}" for p in dots), dots))
    y_ticks = tuple(
        Tick(y(low + (high - low) * k / Y_TICKS), _fmt(low + (high - low) * k / Y_TICKS)) for k in range(Y_TICKS + 1)
    )
    x_ticks = (Tick(x(first), first.isoformat()), Tick(x(last), last.isoformat()))
    return LineChart(WIDTH, HEIGHT, tuple(lines), y_ticks, x_ticks, (x0, y0, x1, y1))
