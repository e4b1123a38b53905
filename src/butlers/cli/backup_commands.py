"""`butlerctl backup DIR` and `butlerctl restore DIR`: every butler's database, with the configs."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import anyio
import typer

from butlers.backup import BackupError, BackupReport, backup, read_manifest, restore
from butlers.cli.common import discover_all, fail, resolve_dir, settings
from butlers.cli.options import DirOption, JsonOption
from butlers.cli.output import echo_json
from butlers.db import PostgresServer, ServerAddress
from butlers.errors import ButlersError

T = TypeVar("T")
FolderArgument = Annotated[Path, typer.Argument(metavar="FOLDER", help="The backup folder.")]


async def _with_server(work: Callable[[ServerAddress], Awaitable[T]]) -> T:
    # The embedded server is started for the command (or joined, when butlerd runs) and released after.
    server = PostgresServer(settings())
    address = await server.start()
    try:
        return await work(address)
    finally:
        await server.stop()


def _report(kind: str, report: BackupReport, as_json: bool, extra: str = "") -> None:
    if as_json:
        echo_json({"folder": str(report.folder), "databases": report.databases})
        return
    typer.echo(
        f"{kind} {len(report.databases)} database(s) {'into' if kind == 'backed up' else 'from'} {report.folder}"
    )
    for db in report.databases:
        typer.echo(f"  {db}")
    if extra:
        typer.echo(extra)


def backup_command(folder: FolderArgument, directory: DirOption = None, as_json: JsonOption = False) -> None:
    """Back up every butler: a consistent dump of each database plus a copy of the butler folder.

    FOLDER must be new or empty; it is made mode 700 (it holds your data). Works on the
    embedded server (running or not) and on POSTGRES_HOST. Exit 1 when anything failed.
    """
    root = resolve_dir(directory)
    configs, errors = discover_all(root)
    if not configs:
        fail(f"no butler found in {root}" + (f": {errors[0]}" if errors else ""))
    try:
        report = anyio.run(_with_server, lambda a: backup(a, configs, root, folder))
    except ButlersError as exc:
        fail(str(exc))
    _report("backed up", report, as_json)


def restore_command(folder: FolderArgument, directory: DirOption = None, as_json: JsonOption = False) -> None:
    """Restore every database of a backup made by `butlerctl backup`, replacing what is there.

    Stop butlerd first: a database in use is refused. The butler folder of the backup is
    copied to BUTLERS_DIR (or --dir) only when that folder does not exist yet. Exit 1 on failure.
    """
    try:
        read_manifest(folder)
    except BackupError as exc:
        fail(str(exc))
    root = resolve_dir(directory)
    try:
        report = anyio.run(_with_server, lambda a: restore(a, folder))
    except ButlersError as exc:
        fail(str(exc))
    note = ""
    if not root.exists() and (folder / "butlers.d").is_dir():
        shutil.copytree(folder / "butlers.d", root)
        note = f"butler configs restored to {root}"
    elif (folder / "butlers.d").is_dir():
        note = f"butler configs left as they are in {root} (the backup's copy is in {folder / 'butlers.d'})"
    _report("restored", report, as_json, note)
