"""`butlerctl`: administer butlers.

Offline commands (`list`, `check`, `init`) read the butler folder only; the
others are MCP clients of a running `butlerd` (see `butlers.cli.client`).
Exit codes: 0 ok, 1 failure, 2 usage error.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import anyio
import typer
from pydantic import ValidationError

from butlers.cli.client import ToolError, butler_url, call_tool
from butlers.cli.scaffold import scaffold
from butlers.config import ButlerConfig, butler_dirs, discover, load_butler_config
from butlers.errors import ConfigError, ConfigErrors, DaemonUnreachableError
from butlers.settings import Settings

app = typer.Typer(
    name="butlerctl",
    help="Administer butlers: list, check and scaffold configs; ask running butlers for their status; "
    "trigger, list, show and cancel their agent sessions; approve or reject held actions.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="Folder holding one sub-folder per butler. Default: $BUTLERS_DIR, else ./butlers.d.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
HostOption = Annotated[
    str | None,
    typer.Option(
        "--host", help="Address the butlers listen on. Default: $BUTLERS_HOST, else 127.0.0.1.", show_default=False
    ),
]


# ---------------------------------------------------------------- helpers


def settings() -> Settings:
    """Global settings, or exit 1 naming the bad environment variable."""
    try:
        return Settings()
    except ValidationError as exc:
        fail(f"invalid environment setting: {exc}")


def resolve_dir(directory: Path | None) -> Path:
    """`--dir`, else BUTLERS_DIR, else ./butlers.d (read now, not at import, so env changes count)."""
    return directory if directory is not None else settings().dir


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def report_errors(errors: list[ConfigError]) -> None:
    for error in errors:
        typer.echo(f"error: {error}", err=True)


def error_dict(error: ConfigError) -> dict[str, str | None]:
    return {"file": error.file, "key": error.key, "message": error.detail}


def discover_all(root: Path) -> tuple[list[ButlerConfig], list[ConfigError]]:
    """`config.discover`, with a missing folder reported as an error instead of raised."""
    try:
        return discover(root)
    except ConfigErrors as exc:
        return [], list(exc.errors)


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
    from butlers.errors import ModuleError
    from butlers.modules.loader import load_modules

    errors: list[ConfigError] = []
    for config in configs:
        try:
            load_modules(config)
        except ConfigErrors as exc:
            errors.extend(exc.errors)
        except ModuleError as exc:  # an installed module that cannot even be imported
            errors.append(ConfigError(str(exc), file=config.config_file, key="modules"))
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
    address = host if host is not None else settings().host
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


# ---------------------------------------------------------------- sessions: trigger, sessions, session, cancel

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The butler's name, as in its butler.toml.")]
SessionIdArgument = Annotated[
    str,
    typer.Argument(
        metavar="ID", help="The session id, or the start of it as `butlerctl sessions` shows (newest 200 searched)."
    ),
]
CALL_TIMEOUT_S = 10.0  # a butler answering a plain (non-waiting) tool call
WAIT_TIMEOUT_S = 900.0  # longer than the default per-session timeout (600 s)
WAIT_GRACE_S = 15.0  # the MCP call outlives the wait by this much
SHORT_ID = 8


def butler_port(directory: Path | None, name: str) -> int:
    """NAME's port from the config folder; an unknown name is a usage error (exit 2) listing the known ones."""
    root = resolve_dir(directory)
    configs, errors = discover_all(root)
    for config in configs:
        if config.name == name:
            return config.port
    report_errors(errors)
    known = ", ".join(sorted(c.name for c in configs)) or f"none in {root}"
    fail(f"unknown butler '{name}' (known: {known})", code=2)


def call(host: str, port: int, tool: str, args: dict[str, Any], timeout: float = CALL_TIMEOUT_S) -> Any:
    """One tool call; exit 1 naming the URL when the butler is down, or with the tool's message when it fails."""
    try:
        return anyio.run(call_tool, host, port, tool, args, timeout)
    except DaemonUnreachableError as exc:
        fail(str(exc))
    except ToolError as exc:
        fail(f"{tool} failed: {exc}")


def answer_dict(tool: str, answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        fail(f"{tool} answered something unexpected: {answer!r}")
    return answer


def format_duration(ms: Any) -> str:
    if not isinstance(ms, int | float):
        return "-"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def format_cost(cost: Any) -> str:
    return f"${cost:.4f}" if isinstance(cost, int | float) else "-"


def format_time(value: Any) -> str:
    """An ISO time from the butler, in this machine's time zone, to the second."""
    if not isinstance(value, str):
        return "-"
    try:
        return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return value


def first_line(text: Any, width: int = 60) -> str:
    line = str(text or "").strip().split("\n", 1)[0]
    return line if len(line) <= width else line[: width - 1] + "…"


@app.command("trigger")
def trigger(
    name: NameArgument,
    prompt: Annotated[str, typer.Argument(metavar="PROMPT", help="What the butler's agent is asked to do.")],
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Wait for the session to end and print its result; exit 1 unless it succeeded."),
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0.1,
            help=f"Seconds to wait: with --wait for the session to end (default {WAIT_TIMEOUT_S:g}), "
            f"else for the butler to answer (default {CALL_TIMEOUT_S:g}).",
            show_default=False,
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            help="Same key, same session: a retry with it does not start a second one. "
            "With --wait and no key, one is generated so a wait that times out can still name its session.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    directory: DirOption = None,
    host: HostOption = None,
) -> None:
    """Start an agent session of butler NAME with PROMPT; print its session id and status.

    With --wait, also print the result (or error), cost and duration; exit 1
    when the session did not succeed or did not end within --timeout (it
    keeps running on the butler).
    """
    port = butler_port(directory, name)
    address = host if host is not None else settings().host
    if not wait:
        args: dict[str, Any] = {"prompt": prompt, "wait": False}
        if idempotency_key is not None:
            args["idempotency_key"] = idempotency_key
        answer = answer_dict("trigger", call(address, port, "trigger", args, timeout or CALL_TIMEOUT_S))
        if as_json:
            echo_json(answer)
        else:
            again = "" if answer.get("created", True) else "  (existing session with this idempotency key)"
            typer.echo(f"session {answer.get('session_id')}  {answer.get('status')}{again}")
        return
    wait_s = timeout or WAIT_TIMEOUT_S
    key = idempotency_key if idempotency_key is not None else f"butlerctl-{uuid.uuid4()}"
    args = {"prompt": prompt, "idempotency_key": key, "wait": True}
    record = anyio.run(wait_for_session, address, port, args, wait_s)
    if record is None:  # the wait ran out: the same key names the session without starting another
        late = answer_dict("trigger", call(address, port, "trigger", {**args, "wait": False}))
        if as_json:
            echo_json({**late, "timed_out_waiting": True})
        fail(
            f"session {late.get('session_id')} is still {late.get('status')} after {wait_s:g} s "
            f"(see `butlerctl session {name} {late.get('session_id')}`)"
        )
    if as_json:
        echo_json(record)
    else:
        print_outcome(record)
    if record.get("status") != "succeeded":
        fail(
            f"session {record.get('session_id', record.get('id'))} {record.get('status')}: {record.get('error') or '-'}"
        )


async def wait_for_session(host: str, port: int, args: dict[str, Any], wait_s: float) -> dict[str, Any] | None:
    """`trigger` with wait; None when the session has not ended within `wait_s` (the MCP call outlives it)."""
    with anyio.move_on_after(wait_s):
        try:
            answer = await call_tool(host, port, "trigger", args, wait_s + WAIT_GRACE_S)
        except DaemonUnreachableError as exc:
            fail(str(exc))
        except ToolError as exc:
            fail(f"trigger failed: {exc}")
        return answer_dict("trigger", answer)
    return None


def print_outcome(record: dict[str, Any]) -> None:
    typer.echo(f"session {record.get('session_id', record.get('id'))}  {record.get('status')}")
    if record.get("result"):
        typer.echo(str(record["result"]).rstrip())
    turns = record.get("num_turns")
    typer.echo(
        f"cost {format_cost(record.get('cost_usd'))}  duration {format_duration(record.get('duration_ms'))}"
        f"  turns {turns if turns is not None else '-'}"
    )


@app.command("sessions")
def sessions(
    name: NameArgument,
    status_filter: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Only sessions in this status: queued, running, succeeded, failed, interrupted, cancelled, timed_out.",
            show_default=False,
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="Only sessions started this way: trigger_tool, schedule, tick, route, inbound.",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only sessions queued at or after this ISO-8601 time; without a zone, this machine's.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=200, help="At most this many sessions, newest first.")
    ] = 20,
    as_json: JsonOption = False,
    directory: DirOption = None,
    host: HostOption = None,
) -> None:
    """List butler NAME's sessions, newest first: id, status, source, schedule, queued, duration, cost, prompt."""
    since_iso = None
    if since is not None:
        try:
            since_iso = datetime.fromisoformat(since).astimezone().isoformat()
        except ValueError:
            raise typer.BadParameter(f"not an ISO-8601 time: {since!r}", param_hint="'--since'") from None
    port = butler_port(directory, name)
    address = host if host is not None else settings().host
    args: dict[str, Any] = {"limit": limit}
    for key, value in (("status", status_filter), ("source", source), ("since", since_iso)):
        if value is not None:
            args[key] = value
    answer = answer_dict("sessions_list", call(address, port, "sessions_list", args))
    if as_json:
        echo_json(answer)
        return
    rows = answer.get("sessions") or []
    if not rows:
        typer.echo(f"No sessions of {name}{' matching' if len(args) > 1 else ''}.")
        return
    table = [("ID", "STATUS", "SOURCE", "SCHEDULE", "QUEUED", "DURATION", "COST", "PROMPT")]
    table += [
        (str(r.get("id", ""))[:SHORT_ID], str(r.get("status") or "-"), str(r.get("trigger_source") or "-"),
         str(r.get("schedule_name") or "-"), format_time(r.get("queued_at")), format_duration(r.get("duration_ms")),
         format_cost(r.get("cost_usd")), first_line(r.get("prompt")))
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        typer.echo("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]).rstrip())
    if answer.get("next_offset") is not None:
        typer.echo("(more: raise --limit or narrow with --since/--status)")


def resolve_id(host: str, port: int, given: str, tool: str, args: dict[str, Any], key: str, none_found: str) -> str:
    """A full id as given; a prefix matched against the newest records `tool` lists (exit 1 if none or several)."""
    try:
        return str(uuid.UUID(given))
    except ValueError:
        pass
    answer = answer_dict(tool, call(host, port, tool, args))
    prefix = given.lower()
    matches = [str(r["id"]) for r in answer.get(key) or [] if str(r.get("id", "")).startswith(prefix)]
    if len(matches) != 1:
        found = none_found if not matches else f"{len(matches)} {key}"
        fail(f"{found} with an id starting with {given!r}; give more of the id")
    return matches[0]


def resolve_session_id(host: str, port: int, session_id: str) -> str:
    return resolve_id(host, port, session_id, "sessions_list", {"limit": 200}, "sessions", "no recent session")


@app.command("session")
def session(
    name: NameArgument,
    session_id: SessionIdArgument,
    as_json: JsonOption = False,
    directory: DirOption = None,
    host: HostOption = None,
) -> None:
    """Show one session of butler NAME in full: times, prompt, result, error, tokens, cost and every tool call."""
    port = butler_port(directory, name)
    address = host if host is not None else settings().host
    sid = resolve_session_id(address, port, session_id)
    record = answer_dict("sessions_get", call(address, port, "sessions_get", {"session_id": sid}))
    if as_json:
        echo_json(record)
    else:
        print_session(record)


def print_session(r: dict[str, Any]) -> None:
    def line(label: str, value: Any) -> None:
        typer.echo(f"{label + ':':<10} {value if value not in (None, '') else '-'}")

    line("session", r.get("id"))
    line("status", r.get("status"))
    source = r.get("trigger_source")
    line("source", f"{source} ({r['schedule_name']})" if source and r.get("schedule_name") else source)
    line("queued", format_time(r.get("queued_at")))
    line("started", format_time(r.get("started_at")))
    line("finished", format_time(r.get("finished_at")))
    line("duration", format_duration(r.get("duration_ms")))
    line("model", r.get("model"))
    line("turns", r.get("num_turns"))
    tokens = ", ".join(f"{key} {r[f'{key}_tokens']}" for key in ("input", "output", "cache_read", "cache_creation")
                       if r.get(f"{key}_tokens") is not None)  # fmt: skip
    line("tokens", tokens)
    line("cost", format_cost(r.get("cost_usd")))
    line("trace", r.get("trace_id"))
    for label, key in (("prompt", "prompt"), ("context", "context"), ("result", "result"), ("error", "error")):
        value = r.get(key)
        if value in (None, ""):
            continue
        text = value if isinstance(value, str) else json.dumps(value, indent=2, default=str)
        typer.echo(f"\n{label}:")
        typer.echo(indent(text.rstrip()))
    calls = r.get("tool_calls") or []
    typer.echo(f"\ntool calls: {len(calls)}")
    for n, c in enumerate(calls, 1):
        typer.echo(f"  {n}. {c.get('tool')}")
        typer.echo(indent("arguments: " + json.dumps(c.get("arguments"), default=str), 5))
        if "error" in c:
            typer.echo(indent(f"error: {c['error']}", 5))
        elif "result" in c:
            typer.echo(indent(f"result: {c['result']}", 5))
        else:
            typer.echo(indent("no result recorded", 5))


def indent(text: str, spaces: int = 2) -> str:
    return "\n".join(" " * spaces + part for part in str(text).split("\n"))


@app.command("cancel")
def cancel(
    name: NameArgument,
    session_id: SessionIdArgument,
    as_json: JsonOption = False,
    directory: DirOption = None,
    host: HostOption = None,
) -> None:
    """Cancel a queued or running session of butler NAME (a running agent is killed).

    Exit 1 when the session had already ended otherwise, or is not yet stopped.
    """
    port = butler_port(directory, name)
    address = host if host is not None else settings().host
    sid = resolve_session_id(address, port, session_id)
    record = answer_dict("session_cancel", call(address, port, "session_cancel", {"session_id": sid}, 30.0))
    if as_json:
        echo_json(record)
    state = record.get("status")
    if state != "cancelled":
        fail(f"session {sid} is {state}, not cancelled")
    if not as_json:
        typer.echo(f"session {sid}  cancelled")


# ---------------------------------------------------------------- approvals: list, approve, reject

approvals_app = typer.Typer(
    name="approvals",
    help="Decide the actions a butler holds for approval (mail to send, messages, events): "
    "list them, approve one (it runs once) or reject one (it never runs).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(approvals_app)

APPROVAL_STATUSES = ("pending", "running", "succeeded", "failed", "rejected", "all")
ApprovalIdArgument = Annotated[
    str, typer.Argument(metavar="ID", help="The approval id, or the start of it as `butlerctl approvals list` shows.")
]
APPROVE_TIMEOUT_S = 120.0  # approving runs the action (sending mail...) before the butler answers


def resolve_approval_id(host: str, port: int, approval_id: str) -> str:
    args = {"status": "all", "limit": 500}
    return resolve_id(host, port, approval_id, "approvals_list", args, "approvals", "no approval")


@approvals_app.command("list")
def approvals_list(
    name: NameArgument,
    status_filter: Annotated[
        str,
        typer.Option(
            "--status", help=f"Only approvals in this status: {', '.join(APPROVAL_STATUSES)}.", show_default=True
        ),
    ] = "pending",
    as_json: JsonOption = False,
    directory: DirOption = None,
    host: HostOption = None,
) -> None:
    """List butler NAME's actions held for approval, newest first: id, status, action, created, summary."""
    if status_filter not in APPROVAL_STATUSES:
        raise typer.BadParameter(
            f"{status_filter!r} is not one of {', '.join(APPROVAL_STATUSES)}", param_hint="'--status'"
        )
    port = butler_port(directory, name)
    address = host if host is not None else settings().host
    answer = answer_dict("approvals_list", call(address, port, "approvals_list", {"status": status_filter}))
    if as_json:
        echo_json(answer)
        return
    rows = answer.get("approvals") or []
    if not rows:
        typer.echo(f"No {'' if status_filter == 'all' else status_filter + ' '}approvals of {name}.")
        return
    table = [("ID", "STATUS", "ACTION", "CREATED", "SUMMARY")]
    table += [
        (str(r.get("id", ""))[:SHORT_ID], str(r.get("status") or "-"), str(r.get("action") or "-"),
         format_time(r.get("created_at")), first_line(r.get("summary"), 80))
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        typer.echo("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]).rstrip())


def print_approval(record: dict[str, Any]) -> None:
    typer.echo(f"approval {record.get('id')}  {record.get('status')}  {record.get('action')}")
    if record.get("summary"):
        typer.echo(f"  {first_line(record['summary'], 100)}")
    if record.get("result") is not None:
        typer.echo(indent("result: " + json.dumps(record["result"], default=str)))
    for key in ("error", "reason"):
        if record.get(key):
            typer.echo(indent(f"{key}: {record[key]}"))


@approvals_app.command("approve")
def approvals_approve(
    name: NameArgument,
    approval_id: ApprovalIdArgument,
    as_json: JsonOption = False,
    directory: DirOption = None,
    host: HostOption = None,
) -> None:
    """Approve a pending action of butler NAME: it runs now, once; print its outcome.

    Approving one already decided runs nothing and shows it. Exit 1 unless
    the action ran and succeeded.
    """
    port = butler_port(directory, name)
    address = host if host is not None else settings().host
    aid = resolve_approval_id(address, port, approval_id)
    record = answer_dict(
        "approval_approve", call(address, port, "approval_approve", {"approval_id": aid}, APPROVE_TIMEOUT_S)
    )
    if as_json:
        echo_json(record)
    else:
        print_approval(record)
    if record.get("status") != "succeeded":
        fail(f"approval {aid} is {record.get('status')}: {record.get('error') or record.get('reason') or '-'}")


@approvals_app.command("reject")
def approvals_reject(
    name: NameArgument,
    approval_id: ApprovalIdArgument,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why, recorded with the rejection.", show_default=False)
    ] = None,
    as_json: JsonOption = False,
    directory: DirOption = None,
    host: HostOption = None,
) -> None:
    """Reject a pending action of butler NAME: it never runs.

    Exit 1 when it was already decided (it is left as it was).
    """
    port = butler_port(directory, name)
    address = host if host is not None else settings().host
    aid = resolve_approval_id(address, port, approval_id)
    args: dict[str, Any] = {"approval_id": aid}
    if reason is not None:
        args["reason"] = reason
    record = answer_dict("approval_reject", call(address, port, "approval_reject", args))
    if as_json:
        echo_json(record)
    else:
        print_approval(record)
    if record.get("status") != "rejected":
        fail(f"approval {aid} is {record.get('status')}, not rejected")


def main() -> None:  # pragma: no cover - `python -m butlers.cli.butlerctl`
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
