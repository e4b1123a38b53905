"""A trend of one kind over a period, from one index-only scan grouped by day.

The database returns per-day partial sums (count, sum, min, max and the sums a
least-squares fit needs); the period's figures are combined from them here. Time
in the fit is in days since the period's start, so the sums stay small and exact
enough in double precision. `date_part` (double) rather than `extract` (numeric):
numeric arithmetic on every row was most of the query's time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import asyncpg

from butlers.modules.health import units
from butlers.modules.health.env import rounded
from butlers.modules.health.models import DailyPoint, Stats, Trend
from butlers.modules.health.times import Period

_WHERE = "kind = $1 AND measured_at >= $2 AND measured_at < $3"
_DAILY_SQL = f"""
SELECT day, count(*) AS n, sum(value) AS s, min(value) AS lo, max(value) AS hi,
       sum(t) AS st, sum(t * t) AS stt, sum(t * value) AS stv,
       sum(diastolic) AS s2, min(diastolic) AS lo2, max(diastolic) AS hi2, sum(t * diastolic) AS stv2
FROM (SELECT (measured_at AT TIME ZONE $4)::date AS day, value, diastolic,
             (date_part('epoch', measured_at) - $5) / 86400.0 AS t
      FROM health_measurements WHERE {_WHERE}) AS r
GROUP BY day ORDER BY day"""
# The whole period at once, when the daily series is not asked for: no per-row date in a zone.
_TOTAL_SQL = f"""
SELECT count(*) AS n, sum(value) AS s, min(value) AS lo, max(value) AS hi,
       sum(t) AS st, sum(t * t) AS stt, sum(t * value) AS stv,
       sum(diastolic) AS s2, min(diastolic) AS lo2, max(diastolic) AS hi2, sum(t * diastolic) AS stv2
FROM (SELECT value, diastolic, (date_part('epoch', measured_at) - $4) / 86400.0 AS t
      FROM health_measurements WHERE {_WHERE}) AS r"""
_ENDS_SQL = f"""
(SELECT value, diastolic, measured_at FROM health_measurements WHERE {_WHERE} ORDER BY measured_at LIMIT 1)
UNION ALL
(SELECT value, diastolic, measured_at FROM health_measurements WHERE {_WHERE} ORDER BY measured_at DESC LIMIT 1)"""


@dataclass(frozen=True)
class _Sums:
    n: int
    s: float
    st: float
    stt: float
    stv: float
    lo: float | None  # None when there are no rows
    hi: float | None

    def slope_per_day(self) -> float | None:
        denominator = self.n * self.stt - self.st * self.st
        if self.n < 2 or math.isclose(denominator, 0.0, abs_tol=1e-12):
            return None
        return (self.n * self.stv - self.st * self.s) / denominator


def _sums(days: Sequence[asyncpg.Record], suffix: str) -> _Sums:
    rows = [r for r in days if r[f"s{suffix}"] is not None]
    return _Sums(
        n=sum(r["n"] for r in rows),
        s=sum(r[f"s{suffix}"] for r in rows),
        st=sum(r["st"] for r in rows),
        stt=sum(r["stt"] for r in rows),
        stv=sum(r[f"stv{suffix}"] for r in rows),
        lo=min((r[f"lo{suffix}"] for r in rows), default=None),
        hi=max((r[f"hi{suffix}"] for r in rows), default=None),
    )


def _stats(sums: _Sums, first: float | None, latest: float | None, unit: units.Unit) -> Stats:
    def conv(x: float | None) -> float | None:
        return None if x is None else rounded(unit.from_canonical(x))

    f, last = conv(first), conv(latest)
    slope = sums.slope_per_day()
    return Stats(
        count=sums.n,
        min=conv(sums.lo),
        max=conv(sums.hi),
        average=conv(sums.s / sums.n) if sums.n else None,
        first=f,
        latest=last,
        change=rounded(last - f) if last is not None and f is not None else None,
        slope_per_week=None if slope is None else rounded(unit.rate_from_canonical(slope * 7), 4),
    )


def direction(stats: Stats, days: float) -> str:
    if stats.count == 0:
        return "no data"
    if stats.slope_per_week is None or stats.average is None:
        return "steady"
    change = stats.slope_per_week * days / 7
    # A fitted change under 0.5% of the average over the whole period reads as steady.
    if math.isclose(change, 0, abs_tol=max(abs(stats.average) * 0.005, 1e-9)):
        return "steady"
    return "rising" if change > 0 else "falling"


def _daily(r: asyncpg.Record, unit: units.Unit) -> DailyPoint:
    def conv(x: float) -> float:
        return rounded(unit.from_canonical(x)) or 0.0

    return DailyPoint(
        day=r["day"].isoformat(),
        count=r["n"],
        average=conv(r["s"] / r["n"]),
        min=conv(r["lo"]),
        max=conv(r["hi"]),
        diastolic_average=None if r["s2"] is None else conv(r["s2"] / r["n"]),
    )


async def trend(
    pool: asyncpg.Pool, tz: ZoneInfo, kind: str, period: Period, unit: units.Unit, with_daily: bool
) -> Trend:
    args = (kind, period.start, period.end)
    if with_daily:
        days = await pool.fetch(_DAILY_SQL, *args, str(tz), period.start.timestamp())
    else:
        days = await pool.fetch(_TOTAL_SQL, *args, period.start.timestamp())
    ends = await pool.fetch(_ENDS_SQL, *args)

    def end_value(index: int, column: str) -> float | None:
        return float(ends[index][column]) if ends and ends[index][column] is not None else None

    value = _stats(_sums(days, ""), end_value(0, "value"), end_value(-1, "value"), unit)
    diastolic = None
    if kind == "blood_pressure":
        diastolic = _stats(_sums(days, "2"), end_value(0, "diastolic"), end_value(-1, "diastolic"), unit)
    return Trend(
        kind=kind,
        unit=unit.name,
        since=period.start.isoformat(),
        until=period.end.isoformat(),
        latest_at=ends[-1]["measured_at"].astimezone(tz).isoformat() if ends else None,
        direction=direction(value, period.days),
        value=value,
        diastolic=diastolic,
        daily=[_daily(r, unit) for r in days] if with_daily else None,
    )
