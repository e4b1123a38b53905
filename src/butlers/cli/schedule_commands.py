"""`butlerctl schedules`: list, create, enable, disable, delete and run a butler's schedules.

Changes are operator actions: the operator token is found as for every command
(BUTLERS_TOKEN, the systemd credential, the data dir's file).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer

from butlers.cli.common import fail
from butlers.cli.options import NameArgument
from butlers.cli.output import echo_json, first_line, format_time
from butlers.cli.remote import Remote, remote_command

schedules_app = typer.Typer(
    name="schedules",
    help="A butler's schedules (from butler.toml and created at run time): list them, create one "
    "(a prompt or a tool, on cron or once), enable, disable, delete, or run one now.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

ScheduleArgument = Annotated[str, typer.Argument(metavar="SCHEDULE", help="The schedule's name.")]
RUN_TIMEOUT_S = 120.0  # a tool-mode schedule runs its tool before the butler answers


@schedules_app.command("list")
@remote_command
def schedules_list(name: NameArgument, *, remote: Remote) -> None:
    """List butler NAME's schedules: name, mode (prompt or tool), timing, enabled, next and last run, source."""
    columns = ("NAME", "MODE", "WHEN", "ENABLED", "NEXT", "LAST", "SOURCE", "DOES")
    remote.table(remote.ask(name, "schedule_list", {}), "schedules", f"No schedules on {name}.", columns, _row)


def _row(s: dict[str, Any]) -> tuple[str, ...]:
    return (str(s["name"]), str(s.get("mode")), _timing(s), "yes" if s.get("enabled") else "no",
            format_time(s.get("next_run_at")), format_time(s.get("last_run_at")), str(s.get("source")),
            _does(s))  # fmt: skip


def _timing(s: dict[str, Any]) -> str:
    if s.get("cron"):
        return f"{s['cron']}" + (f" ({s['timezone']})" if s.get("timezone") else "")
    return f"at {format_time(s.get('run_at'))}" + (" (done)" if s.get("done") else "")


def _does(s: dict[str, Any]) -> str:
    if s.get("tool"):
        return first_line(f"{s['tool']}({json.dumps(s.get('args') or {})})", 50)
    return first_line(s.get("prompt"), 50)


@schedules_app.command("create")
@remote_command
def schedules_create(
    name: NameArgument,
    schedule: ScheduleArgument,
    cron: Annotated[str | None, typer.Option("--cron", help="Five-field cron expression, e.g. '0 8 * * *'.")] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Instead of --cron: run once at this ISO time with its UTC offset.")
    ] = None,
    prompt: Annotated[str | None, typer.Option("--prompt", help="What the agent is asked to do.")] = None,
    tool: Annotated[
        str | None, typer.Option("--tool", help="Instead of --prompt: a tool of the butler to call (no session).")
    ] = None,
    args: Annotated[str | None, typer.Option("--args", help="The tool's arguments as a JSON object.")] = None,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="IANA zone of the cron, e.g. Europe/Paris; default the host's.")
    ] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it disabled.")] = False,
    *,
    remote: Remote,
) -> None:
    """Create a runtime schedule SCHEDULE on butler NAME: exactly one of --cron/--at and one of --prompt/--tool.

    Exit 2 when the options do not fit together (nothing is sent); 1 when the butler refuses it.
    """
    if (cron is None) == (at is None):
        raise typer.BadParameter("give exactly one of --cron and --at", param_hint="'--cron'")
    if (prompt is None) == (tool is None):
        raise typer.BadParameter("give exactly one of --prompt and --tool", param_hint="'--prompt'")
    fields: dict[str, Any] = {"name": schedule, "cron": cron, "at": at, "prompt": prompt, "tool": tool}
    fields |= {"args": _json_object(args) if args is not None else None, "timezone": timezone}
    fields["enabled"] = not disabled
    created = remote.ask(name, "schedule_create", _present(fields))
    remote.show(created, f"created schedule {schedule} on {name}; next run {format_time(created.get('next_run_at'))}")


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="'--args'") from None
    if not isinstance(value, dict):
        raise typer.BadParameter("must be a JSON object, e.g. '{\"days\": 7}'", param_hint="'--args'")
    return value


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _enabling(enabled: bool, doc: str) -> Callable[..., None]:
    """The `enable` or `disable` command (the same options; `doc` is its help)."""

    def command(name: NameArgument, schedule: ScheduleArgument, *, remote: Remote) -> None:
        updated = remote.ask(name, "schedule_update", {"name": schedule, "enabled": enabled})
        word = "enabled" if enabled else "disabled"
        remote.show(
            updated, f"{word} schedule {schedule} on {name}; next run {format_time(updated.get('next_run_at'))}"
        )

    command.__doc__ = doc
    return remote_command(command)


schedules_enable = schedules_app.command("enable")(
    _enabling(True, "Enable schedule SCHEDULE of butler NAME (its next window is computed from now).")
)
schedules_disable = schedules_app.command("disable")(
    _enabling(False, "Disable schedule SCHEDULE of butler NAME: it stops firing until enabled again.")
)


@schedules_app.command("delete")
@remote_command
def schedules_delete(name: NameArgument, schedule: ScheduleArgument, *, remote: Remote) -> None:
    """Delete schedule SCHEDULE of butler NAME (one from butler.toml comes back at the next start)."""
    answer = remote.ask(name, "schedule_delete", {"name": schedule})
    note = " (it is in butler.toml: it comes back at the next start)" if answer.get("source") == "config" else ""
    remote.show(answer, f"deleted schedule {schedule} of {name}{note}")


@schedules_app.command("run")
@remote_command
def schedules_run(name: NameArgument, schedule: ScheduleArgument, *, remote: Remote) -> None:
    """Run schedule SCHEDULE of butler NAME now, enabled or not; its next window is unchanged.

    A prompt schedule queues a session (follow it with `butlerctl session NAME ID`);
    a tool schedule calls its tool and prints the outcome. Exit 1 if the tool failed.
    """
    run = remote.ask(name, "schedule_run", {"name": schedule}, RUN_TIMEOUT_S)
    if remote.as_json:
        echo_json(run)
    elif run.get("mode") == "tool":
        typer.echo(f"ran {run.get('tool')} for schedule {schedule}: {run.get('tool_status')}")
        if run.get("result") is not None:
            typer.echo(json.dumps(run["result"], indent=2, default=str))
    else:
        typer.echo(f"queued session {run.get('session_id')} for schedule {schedule}")
        typer.echo(f"Follow it: butlerctl session {name} {run.get('session_id')}")
    if run.get("mode") == "tool" and run.get("tool_status") == "failed":
        fail(f"schedule {schedule}: {run.get('tool')} failed: {run.get('error')}")
