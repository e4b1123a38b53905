"""The Health page's server-drawn chart: points placed by day, the y axis spanning the data."""

from __future__ import annotations

from datetime import date

from butlers.dashboard.line_chart import HEIGHT, WIDTH, line_chart


def test_points_are_placed_by_their_day_so_a_missing_day_leaves_a_gap() -> None:
    first, last = date(2026, 3, 1), date(2026, 3, 11)
    chart = line_chart(first, last, {"weight": [(date(2026, 3, 1), 82.0), (date(2026, 3, 11), 80.0)]}, "kg")
    left, top, right, bottom = chart.plot
    [line] = chart.lines
    (a, b) = line.dots
    assert (a.x, b.x) == (left, right)  # the period's ends, whatever lies between
    assert top < a.y < b.y < bottom  # the higher value is drawn higher (smaller y), both inside the plot
    assert line.points == f"{a.x},{a.y} {b.x},{b.y}"
    assert a.label == "weight 2026-03-01: 82 kg"
    assert [t.label for t in chart.x_ticks] == ["2026-03-01", "2026-03-11"]
    assert (chart.width, chart.height) == (WIDTH, HEIGHT)


def test_y_ticks_span_the_values_and_two_series_get_two_colours() -> None:
    day = date(2026, 3, 1)
    chart = line_chart(day, day, {"systolic": [(day, 130.0)], "diastolic": [(day, 85.0)]}, "mmHg")
    labels = [float(t.label) for t in chart.y_ticks]
    assert labels[0] < 85 and labels[-1] > 130
    assert len({line.colour for line in chart.lines}) == 2


def test_a_flat_or_empty_series_still_draws_inside_the_plot() -> None:
    day = date(2026, 3, 1)
    flat = line_chart(day, date(2026, 3, 2), {"steps": [(day, 5000.0), (date(2026, 3, 2), 5000.0)]}, "steps")
    _, top, _, bottom = flat.plot
    assert all(top < d.y < bottom for d in flat.lines[0].dots)
    empty = line_chart(day, day, {"waist": []}, "cm")
    assert empty.lines[0].points == "" and len(empty.y_ticks) == 5
