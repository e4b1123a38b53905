"""`butlerctl spend`: what the butlers' sessions cost, by butler, schedule or day, and the monthly ceiling.

Each butler answers for itself (its `spend_report` tool); the figures are
gathered concurrently and merged here.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import anyio
import typer

from butlers.cli.client import ToolError, call_tool
from butlers.cli.common import CALL_TIMEOUT_S, discover_all, error_dict, host_or_default, report_errors, resolve_dir
from butlers.cli.output import echo_json, print_table
from butlers.cli.remote import Remote, remote_command
from butlers.config import ButlerConfig
from butlers.errors import DaemonUnreachableError

GROUPINGS = ("butler", "schedule", "day")
Grouping = Literal["butler", "schedule", "day"]


@remote_command
def spend_command(
    by: Annotated[
        str, typer.Option("--by", help=f"Group the cost by {', '.join(GROUPINGS)}.", show_default=True)
    ] = "butler",
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DATE",
            help="First day counted, YYYY-MM-DD (the daemon's time zone). Default: the 1st of this month.",
            show_default=False,
        ),
    ] = None,
    *,
    remote: Remote,
) -> None:
    """Show what the butlers' finished sessions cost since a day, grouped by butler, schedule or day.

    Also each butler's daily budget against today's use, and this month's cost across
    every butler against the fleet's monthly ceiling (monthly_spend_ceiling_usd).
    Exit 0; 1 when a butler could not be asked (the others are still shown); 2 on bad options.
    """
    grouping = _grouping(by)
    args = {"since": _since(since).isoformat()} if since is not None else {}
    configs, config_errors = discover_all(resolve_dir(remote.directory))
    reports, failures = anyio.run(_ask_all, host_or_default(remote.host), configs, args)
    rows = group(grouping, reports)
    if remote.as_json:
        summary = {"by": grouping, "rows": rows, "total_usd": _total(reports), "ceiling": _ceiling(reports)}
        details = {"budgets": [r["budget"] for r in reports], "reports": reports, "failures": failures}
        echo_json(summary | details | {"errors": [error_dict(e) for e in config_errors]})
    else:
        print_spend(grouping, rows, reports)
    for name, message in failures.items():
        typer.echo(f"error: {name}: {message}", err=True)
    report_errors(config_errors)
    raise typer.Exit(1 if failures or config_errors else 0)


def _grouping(by: str) -> Grouping:
    if by not in GROUPINGS:
        raise typer.BadParameter(f"{by!r} is not one of {', '.join(GROUPINGS)}", param_hint="'--by'")
    return by  # type: ignore[return-value]


def _since(value: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2026-01-31", param_hint="'--since'") from None
    if day > date.today():
        raise typer.BadParameter(f"{value} is in the future", param_hint="'--since'")
    return day


async def _ask_all(
    host: str, configs: list[ButlerConfig], args: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Every butler's spend_report, concurrently: (reports in config order, failures by name)."""
    answers: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}

    async def ask(config: ButlerConfig) -> None:
        try:
            answer = await call_tool(host, config.port, "spend_report", args, CALL_TIMEOUT_S)
        except (DaemonUnreachableError, ToolError) as exc:
            failures[config.name] = str(exc)
            return
        if isinstance(answer, dict):
            answers[config.name] = answer
        else:
            failures[config.name] = f"spend_report answered something unexpected: {answer!r}"

    async with anyio.create_task_group() as tg:
        for config in configs:
            tg.start_soon(ask, config)
    return [answers[c.name] for c in configs if c.name in answers], failures


def group(grouping: Grouping, reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of one grouping, costliest (or oldest day) first."""
    if grouping == "butler":
        rows = [{"butler": r["butler"], "sessions": r["sessions"], "cost_usd": r["total_usd"]} for r in reports]
        return sorted(rows, key=lambda r: -r["cost_usd"])
    if grouping == "schedule":
        rows = [s for r in reports for s in r["by_schedule"]]
        return sorted(rows, key=lambda s: -s["cost_usd"])
    return sorted((d for r in reports for d in r["by_day"]), key=lambda d: (d["day"], d["butler"]))


def _total(reports: list[dict[str, Any]]) -> float:
    return round(sum(r["total_usd"] for r in reports), 6)


def _ceiling(reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    # Every butler of one daemon sees the same fleet: the first answer says it.
    return reports[0]["ceiling"] if reports else None


def print_spend(grouping: Grouping, rows: list[dict[str, Any]], reports: list[dict[str, Any]]) -> None:
    if not reports:
        typer.echo("No butler answered.")
        return
    since = str(reports[0]["since"])[:10]
    typer.echo(f"Cost of finished sessions since {since}: ${_total(reports):.4f}")
    table: list[tuple[str, ...]]
    if grouping == "butler":
        budgets = {r["butler"]: r["budget"] for r in reports}
        table = [("BUTLER", "SESSIONS", "COST_USD", "TODAY_USD", "DAILY_BUDGET")]
        table += [(r["butler"], str(r["sessions"]), f"{r['cost_usd']:.4f}", *_budget(budgets[r["butler"]]))
                  for r in rows]  # fmt: skip
    elif grouping == "schedule":
        table = [("BUTLER", "SCHEDULE", "SESSIONS", "COST_USD")]
        table += [(s["butler"], s["schedule"] or "(not scheduled)", str(s["sessions"]), f"{s['cost_usd']:.4f}")
                  for s in rows]  # fmt: skip
    else:
        table = [("DAY", "BUTLER", "SESSIONS", "COST_USD")]
        table += [(d["day"], d["butler"], str(d["sessions"]), f"{d['cost_usd']:.4f}") for d in rows]
    print_table(table)
    typer.echo(ceiling_line(_ceiling(reports)))


def _budget(budget: dict[str, Any]) -> tuple[str, str]:
    limit = budget.get("daily_budget_usd")
    shown = "-" if limit is None else f"{limit:.2f}" + (" (reached)" if budget.get("reached") else "")
    return f"{budget['spent_today_usd']:.4f}", shown


def ceiling_line(ceiling: dict[str, Any] | None) -> str:
    """One line on this month's fleet-wide cost and the ceiling (also used by `status`)."""
    if not ceiling:
        return "This month, every butler: unknown"
    spent = f"This month, every butler: ${ceiling['spent_usd']:.4f}"
    if ceiling.get("ceiling_usd") is None:
        return f"{spent} (no monthly ceiling: monthly_spend_ceiling_usd is unset)"
    if ceiling.get("reached"):
        return (f"{spent} of the ${ceiling['ceiling_usd']:.2f} monthly ceiling: REACHED, new sessions are "
                f"refused until {str(ceiling['next_month_start'])[:10]}")  # fmt: skip
    return f"{spent} of the ${ceiling['ceiling_usd']:.2f} monthly ceiling (${ceiling['remaining_usd']:.4f} left)"
