"""The fleet-wide monthly spend ceiling, checked before every session beside the daily budget.

Once this calendar month's recorded session cost across every butler of the
daemon reaches `monthly_spend_ceiling_usd` (env BUTLERS_MONTHLY_SPEND_CEILING_USD),
new sessions of every butler are refused until the next month starts. Below it,
a session may spend at most what is left (its `max_budget_usd`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from butlers.fleet_views import ButlerDb, CeilingState, butler_dbs, ceiling_state

if TYPE_CHECKING:
    from butlers.butler import Butler

SETTING = "monthly_spend_ceiling_usd"
ENV = "BUTLERS_MONTHLY_SPEND_CEILING_USD"


class SpendCeiling:
    """The ceiling (USD) and how to find the fleet's databases at the time of the check."""

    def __init__(self, ceiling_usd: float, fleet: Callable[[], list[ButlerDb]]) -> None:
        self.ceiling_usd = ceiling_usd
        self._fleet = fleet

    async def state(self) -> CeilingState:
        return await ceiling_state(self._fleet(), self.ceiling_usd)


def spend_ceiling_of(butler: Butler) -> SpendCeiling | None:
    """The ceiling a butler's spawner checks (None when the setting is unset), over the live fleet."""
    ceiling = butler.settings.monthly_spend_ceiling_usd
    if ceiling is None:
        return None

    def fleet() -> list[ButlerDb]:
        # Its own database counts even before the butler reports serving (sessions queued earlier run then).
        others = [db for db in butler_dbs(butler.fleet) if db.name != butler.name]
        return [ButlerDb(butler.name, butler.pool), *others]

    return SpendCeiling(ceiling, fleet)


async def ceiling_report(ceiling: SpendCeiling | None) -> dict[str, Any] | None:
    """The ceiling's state as JSON for `status` (None without a ceiling)."""
    if ceiling is None:
        return None
    return _STATE_JSON.dump_python(await ceiling.state(), mode="json")


_STATE_JSON = TypeAdapter(CeilingState)


def refusal_message(state: CeilingState) -> str:
    """Why a session is refused, naming the setting, what was spent and when sessions run again."""
    return (
        f"refused: the fleet's monthly spend ceiling of ${state.ceiling_usd:.2f} is reached "
        f"(${state.spent_usd:.4f} recorded this month across every butler; setting {SETTING}, env {ENV}); "
        f"new sessions run after {state.next_month_start.isoformat()}"
    )


async def ceiling_refusal(ceiling: SpendCeiling | None) -> tuple[str | None, float | None]:
    """(refusal, None) when the ceiling is reached; else (None, USD left under it, None without a ceiling)."""
    if ceiling is None:
        return None, None
    state = await ceiling.state()
    if state.reached:
        return refusal_message(state), None
    return None, state.remaining_usd


def tighter(limit: float | None, other: float | None) -> float | None:
    """The smaller of two optional spending limits (None: no limit)."""
    if limit is None:
        return other
    return limit if other is None else min(limit, other)
