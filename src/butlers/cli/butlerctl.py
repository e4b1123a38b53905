"""`butlerctl`: administer butlers.

Offline commands (`list`, `check`, `init`) read the butler folder only; the
others are MCP clients of a running `butlerd` (see `butlers.cli.client`).
Exit codes: 0 ok, 1 failure, 2 usage error.

This module holds the app and the config commands (list, check, init,
status); session_commands and approval_commands add the rest, and
common holds what they share.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer

from butlers.cli import backup_commands, dashboard_commands, mcp_config_commands, session_commands, spend_commands
from butlers.cli.approval_commands import approvals_app
from butlers.cli.client import ToolError, butler_url, call_tool
from butlers.cli.common import (
    discover_all,
    error_dict,
    fail,
    host_or_default,
    report_errors,
    resolve_dir,
    version_option,
)
from butlers.cli.inbound_commands import inbound_app
from butlers.cli.notification_commands import notifications_app
from butlers.cli.options import DirOption, HostOption, JsonOption
from butlers.cli.output import echo_json
from butlers.cli.scaffold import scaffold
from butlers.cli.schedule_commands import schedules_app
from butlers.cli.state_commands import state_app
from butlers.config import ButlerConfig, butler_dirs, load_butler_config
from butlers.errors import ConfigError, ConfigErrors, DaemonUnreachableError

app = typer.Typer(
    name="butlerctl",
    help="Administer butlers: list, check and scaffold configs; ask running butlers for their status; "
    "trigger, list, show and cancel their agent sessions; approve or reject held actions; "
    "list and retry notifications; see what sessions cost; manage schedules and state.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


@app.callback()
def _main(version: bool = version_option("butlerctl")) -> None:
    """Administer butlers."""


def butler_summary(config: ButlerConfig) -> dict[str, Any]:
    return {
        "name": config.name,
        "port": config.port,
        "description": config.description,
        "directory": str(config.directory),
        "modules": sorted(config.modules),
        "schedules": [
            {"name": s.name, "cron": s.cron, "timezone": s.timezone, "enabled": s.enabled} for s in config.schedules
        ],
    }


# ---------------------------------------------------------------- list


@app.command("list")
def list_butlers(directory: DirOption = None, as_json: JsonOption = False) -> None:
    """List the butlers found: name, port, description, modules and schedules.

    Butlers whose config is bad are left out and their errors printed on
    stderr (exit 1); the good ones are still listed.
    """
    root = resolve_dir(directory)
    configs, errors = discover_all(root)
    if as_json:
        echo_json({"butlers": [butler_summary(c) for c in configs], "errors": [error_dict(e) for e in errors]})
    else:
        print_butlers(root, configs)
    report_errors(errors)
    raise typer.Exit(1 if errors else 0)


def print_butlers(root: Path, configs: list[ButlerConfig]) -> None:
    if not configs:
        typer.echo(f"No butlers in {root}.")
    for config in configs:
        typer.echo(f"{config.name}  port {config.port}  {config.description}".rstrip())
        if config.modules:
            typer.echo(f"  modules: {', '.join(sorted(config.modules))}")
        for s in config.schedules:
            extra = "".join([f"  ({s.timezone})" if s.timezone else "", "" if s.enabled else "  [disabled]"])
            typer.echo(f"  schedule {s.name}: {s.cron}{extra}")


# ---------------------------------------------------------------- check


@app.command("check")
def check(directory: DirOption = None, as_json: JsonOption = False) -> None:
    """Validate every butler config offline and list every error found.

    Checks each butler.toml (keys, types, cron, time zones, ${VAR}), names and
    ports used twice, and each enabled module (known, valid settings,
    dependencies). Exit 0 with "N butlers OK", else 1 with every error.
    """
    root = resolve_dir(directory)
    configs, errors = discover_all(root)
    errors += module_errors(loadable_configs(root))
    # Loader errors name the file as found, others as resolved: compare resolved.
    bad_files = {Path(e.file).resolve() for e in errors if e.file}
    ok = [c.name for c in configs if c.config_file.resolve() not in bad_files]
    if as_json:
        echo_json({"ok": not errors, "butlers": ok, "errors": [error_dict(e) for e in errors]})
    elif not errors:
        typer.echo(f"{len(ok)} butler{'s' if len(ok) != 1 else ''} OK")
    report_errors(errors)
    if errors and not as_json:
        typer.echo(f"{len(errors)} error{'s' if len(errors) != 1 else ''} found", err=True)
    raise typer.Exit(1 if errors else 0)


def loadable_configs(root: Path) -> list[ButlerConfig]:
    """Every butler whose own file loads, clashing ones included, so their modules get checked too."""
    if not root.is_dir():
        return []
    configs = []
    for folder in butler_dirs(root):
        try:
            configs.append(load_butler_config(folder))
        except ConfigErrors:
            continue  # already reported by discover
    return configs


def module_errors(configs: list[ButlerConfig]) -> list[ConfigError]:
    # Imported here: loading modules imports their (possibly heavy, possibly
    # third-party) code, which `list` and `init` never need.
    from butlers.butler import missing_credentials
    from butlers.errors import ModuleError
    from butlers.modules.loader import load_modules

    errors: list[ConfigError] = []
    for config in configs:
        try:
            modules = load_modules(config)
        except ConfigErrors as exc:
            errors.extend(exc.errors)
            continue
        except ModuleError as exc:  # an installed module that cannot even be imported
            errors.append(ConfigError(str(exc), file=config.config_file, key="modules"))
            continue
        # butlerd refuses a butler whose required credentials are unset: say so here too.
        missing = missing_credentials(config, modules, os.environ)
        if missing:
            message = "required environment variable(s) not set: " + ", ".join(missing)
            errors.append(ConfigError(message, file=config.config_file, key="env"))
    return errors


# ---------------------------------------------------------------- init


@app.command("init")
def init(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The new butler's name: a lowercase letter, then a-z, 0-9, '_', '-'.")
    ],
    port: Annotated[int, typer.Option("--port", help="The port its MCP server listens on; unique among butlers.")],
    directory: DirOption = None,
    description: Annotated[
        str | None, typer.Option("--description", help="One line saying what the butler is for.", show_default=False)
    ] = None,
) -> None:
    """Scaffold a new butler: DIR/NAME/ with butler.toml, CLAUDE.md, AGENTS.md and skills/.

    Refuses, writing nothing, when the folder exists, the name is invalid, or
    the port is out of range or used by another butler in the folder.
    """
    root = resolve_dir(directory)
    try:
        folder = scaffold(root, name, port, description)
    except ConfigErrors as exc:
        report_errors(exc.errors)
        fail(f"butler '{name}' not created")
    typer.echo(f"Created {folder}/ (butler.toml, CLAUDE.md, AGENTS.md, skills/)")
    typer.echo(f"Next: edit {folder / 'CLAUDE.md'}, then `butlerctl check`.")


# ---------------------------------------------------------------- status


@app.command("status")
def status(
    directory: DirOption = None,
    as_json: JsonOption = False,
    host: HostOption = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for each butler before calling it down.")
    ] = 3.0,
) -> None:
    """Ask each configured butler over MCP whether it is up, its uptime and database health.

    Exit 1 when any butler is down, unhealthy or misconfigured.
    """
    root = resolve_dir(directory)
    address = host_or_default(host)
    configs, errors = discover_all(root)
    rows = anyio.run(probe_all, address, configs, timeout)
    if as_json:
        echo_json({"butlers": rows, "errors": [error_dict(e) for e in errors]})
    else:
        print_status(root, rows)
    report_errors(errors)
    healthy = all(r["up"] and r["error"] is None for r in rows)
    raise typer.Exit(0 if healthy and not errors else 1)


async def probe_all(host: str, configs: list[ButlerConfig], wait_s: float) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}

    async def probe_one(config: ButlerConfig) -> None:
        rows[config.name] = await probe(host, config, wait_s)

    # Concurrently, so N down butlers cost one timeout, not N.
    async with anyio.create_task_group() as tg:
        for config in configs:
            tg.start_soon(probe_one, config)
    return [rows[c.name] for c in configs]


async def probe(host: str, config: ButlerConfig, wait_s: float) -> dict[str, Any]:
    row: dict[str, Any] = {"name": config.name, "port": config.port, "url": butler_url(host, config.port),
                           "up": False, "uptime_s": None, "database": None, "error": None}  # fmt: skip
    try:
        answer = await call_tool(host, config.port, "status", {}, wait_s)
    except DaemonUnreachableError as exc:
        return {**row, "error": str(exc)}
    except ToolError as exc:
        return {**row, "up": True, "error": f"status tool failed: {exc}"}
    info = answer if isinstance(answer, dict) else {}
    row.update(up=True, phase=info.get("phase"), uptime_s=uptime_of(info), database=database_health(info), status=info)
    if info.get("name") not in (None, config.name):
        # Another program (or another butler) holds this butler's port.
        row["error"] = f"port {config.port} is answered by butler '{info['name']}', not '{config.name}'"
    elif row["database"] not in (None, "ok"):
        row["error"] = f"database: {row['database']}"
    elif sick := unhealthy_modules(info):
        row["error"] = "; ".join(sick)
    return row


def unhealthy_modules(info: dict[str, Any]) -> list[str]:
    modules = info.get("modules")
    if not isinstance(modules, dict):
        return []
    return [
        f"module {name}: {health.get('error') or 'unhealthy'}"
        for name, health in modules.items()
        if isinstance(health, dict) and health.get("ok") is False
    ]


def uptime_of(info: dict[str, Any]) -> float | None:
    value = info.get("uptime_s", info.get("uptime"))
    return float(value) if isinstance(value, int | float) else None


def database_health(info: dict[str, Any]) -> str | None:
    """'ok' or what is wrong, from whichever shape the status tool reports it in."""
    value = info.get("database", info.get("db"))
    if isinstance(value, dict):
        if value.get("ok") is True or value.get("healthy") is True or value.get("status") == "ok":
            return "ok"
        return str(value.get("error") or value.get("status") or "unhealthy")
    if isinstance(value, bool):
        return "ok" if value else "unhealthy"
    return None if value is None else str(value)


def format_uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h"
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def print_status(root: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        typer.echo(f"No butlers in {root}.")
    width = max((len(r["name"]) for r in rows), default=0)
    for r in rows:
        state = "up" if r["up"] else "down"
        line = f"{r['name']:<{width}}  {state:<4}  port {r['port']}"
        if r["up"]:
            line += f"  uptime {format_uptime(r['uptime_s'])}  db {r['database'] or '-'}"
            if r.get("phase") not in (None, "serving"):
                line += f"  ({r['phase']})"
        typer.echo(line)
        if r["error"]:
            typer.echo(f"  {r['error']}")
    ceilings = [r["status"]["spend_ceiling"] for r in rows if (r.get("status") or {}).get("spend_ceiling")]
    if ceilings:  # the same fleet-wide figure from every butler: say it once
        typer.echo(spend_commands.ceiling_line(ceilings[0]))


# ---------------------------------------------------------------- trigger, sessions, session, cancel; approvals
# Registered after the config commands so `butlerctl --help` and docs/cli.md keep this order.

session_commands.register(app)
mcp_config_commands.register(app)
app.add_typer(approvals_app)
app.add_typer(notifications_app)
app.command("backup")(backup_commands.backup_command)
app.command("restore")(backup_commands.restore_command)
app.add_typer(inbound_app)
app.command("spend")(spend_commands.spend_command)
app.add_typer(schedules_app)
app.add_typer(state_app)
app.command("dashboard")(dashboard_commands.dashboard_command)


def main() -> None:  # pragma: no cover - `python -m butlers.cli.butlerctl`
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
