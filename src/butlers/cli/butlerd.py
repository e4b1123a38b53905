"""`butlerd`: the daemon that hosts every butler in one process."""

from __future__ import annotations

import gc
import signal
import sys
from pathlib import Path
from typing import Annotated

import anyio
import structlog
import typer

from butlers.auth import check_bind, load_operator_token
from butlers.cli.common import version_option
from butlers.config import ButlerConfig, load_butler_config, select_configs
from butlers.db import PostgresServer
from butlers.errors import ButlersError, ConfigError, ConfigErrors
from butlers.http import raise_fd_limit
from butlers.settings import Settings, load_settings
from butlers.telemetry import configure_logging, configure_tracing, register_secrets, shutdown_tracing

# butlers.supervisor (and with it FastMCP, the MCP SDK, uvicorn) is imported only
# once the embedded PostgreSQL has begun starting: the two overlap.

app = typer.Typer(
    help="Butlers daemon: hosts every butler (MCP server, scheduler, agent spawner) in one process.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _main(version: bool = version_option("butlerd")) -> None:
    """Butlers daemon."""


log = structlog.get_logger("butlerd")

EXIT_FORCED = 130
# `uv run` forwards SIGTERM to its child, and `pkill -f` may hit both: a repeat
# this soon after the first signal is the same request, not "exit at once".
REPEAT_SIGNAL_GRACE_S = 1.0


async def _serve(
    settings: Settings, configs: list[ButlerConfig], errors: list[ConfigError], database: PostgresServer
) -> int:
    from butlers.supervisor import Supervisor

    keep_imports_out_of_collections()
    supervisor = Supervisor(settings, configs, errors, database=database)
    forced = False
    failure: str | None = None
    async with anyio.create_task_group() as tg:

        async def watch_signals() -> None:
            nonlocal forced
            first_at: float | None = None
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    if first_at is not None and anyio.current_time() - first_at < REPEAT_SIGNAL_GRACE_S:
                        continue
                    if first_at is not None:
                        log.warning("butlerd.forced_exit", signal=signal.Signals(signum).name)
                        forced = True
                        tg.cancel_scope.cancel()
                        return
                    log.info(
                        "butlerd.signal",
                        signal=signal.Signals(signum).name,
                        action="draining; send again to exit at once",
                    )
                    first_at = anyio.current_time()
                    supervisor.request_stop()

        tg.start_soon(watch_signals)
        try:
            await supervisor.run()
        except* ButlersError as group:  # e.g. no butler could start, the database would not start
            failure = str(group.exceptions[0])
        tg.cancel_scope.cancel()
    if failure:
        typer.echo(f"butlerd: {failure}", err=True)
        return 1
    if forced:
        return EXIT_FORCED
    return 0


def keep_imports_out_of_collections() -> None:
    """Exempt what the imports made (modules, classes, schemas: kept for the daemon's life) from the cyclic GC.

    Every full collection walks every tracked object: before the butlers start those are some 150,000
    objects that never die, and a start allocates enough for several full collections, each ~0.2 s on
    a slow host (0.75-1 s of a 50-butler start; ~0.5 s less with this, docs/benchmarks.md). Frozen
    objects are still freed by reference counting; only garbage cycles among them would stay.
    """
    gc.freeze()
    log.info("butlerd.imports_frozen", objects=gc.get_freeze_count())


def _run(settings: Settings, configs: list[ButlerConfig], errors: list[ConfigError]) -> None:
    if not configs:
        for e in errors:
            typer.echo(str(e), err=True)
        typer.echo(f"butlerd: no valid butler to serve in {settings.dir}", err=True)
        raise typer.Exit(1)
    try:
        token = load_operator_token(settings)
        check_bind(settings, token)
    except ButlersError as exc:
        typer.echo(f"butlerd: {exc}", err=True)
        raise typer.Exit(1) from None
    register_secrets([token.value])
    before, after = raise_fd_limit()
    log.info("butlerd.operator_token", source=token.source.value, path=str(token.path) if token.path else None)
    if after != before:
        log.info("butlerd.fd_limit_raised", soft_before=before, soft=after)
    database = PostgresServer(settings)
    database.start_early()
    configure_tracing(settings)
    try:
        code = anyio.run(_serve, settings, configs, errors, database)
    except ButlersError as exc:
        typer.echo(f"butlerd: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        shutdown_tracing()
    raise typer.Exit(code)


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        typer.echo(f"butlerd: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def serve(
    only: Annotated[list[str] | None, typer.Option("--only", help="Serve only this butler (repeatable).")] = None,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Folder of butler folders [env: BUTLERS_DIR].")
    ] = None,
) -> None:
    """Serve every butler found in the butler folder, on the embedded PostgreSQL unless POSTGRES_HOST is set."""
    settings = _settings() if directory is None else _settings(dir=directory)
    configure_logging(settings)
    try:
        configs, errors = select_configs(settings.dir, only or ())
    except ButlersError as exc:
        typer.echo(f"butlerd: {exc}", err=True)
        raise typer.Exit(2 if only else 1) from None
    _run(settings, configs, list(errors))


@app.command()
def run(
    config: Annotated[
        Path, typer.Option("--config", help="A butler folder (holding butler.toml), or the butler.toml itself.")
    ],
) -> None:
    """Serve one butler from its config folder."""
    settings = _settings()
    configure_logging(settings)
    folder = config.parent if config.name == "butler.toml" else config
    try:
        butler_config = load_butler_config(folder)
    except ConfigErrors as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    _run(settings, [butler_config], [])


def main() -> None:
    sys.exit(app())
