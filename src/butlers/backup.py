"""Backups: every butler's database (pg_dump, custom format) and the butler configs, in one folder.

A backup folder holds `manifest.json` (when, which version, which databases),
one `<database>.dump` per butler and a copy of the butler folder under
`butlers.d/`. Each dump is a consistent snapshot of its database (pg_dump runs
in one repeatable-read transaction); butlers keep nothing that spans databases.

Restore recreates each database from its dump. It refuses while anything is
connected to a database it would replace (a running `butlerd`), so a restore
never mixes with live writes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import asyncpg

from butlers.config import ButlerConfig
from butlers.db import ServerAddress, database_name
from butlers.errors import ButlersError

MANIFEST = "manifest.json"
FORMAT = 1


class BackupError(ButlersError):
    """A backup or restore could not be made; nothing was replaced."""


@dataclass(frozen=True)
class BackupReport:
    folder: Path
    databases: list[str]


def _major(program: str) -> int:
    """The major version of a PostgreSQL client program (`pg_dump (PostgreSQL) 16.2` -> 16)."""
    done = subprocess.run([program, "--version"], capture_output=True, text=True)
    found = re.search(r"(\d+)(?:\.\d+)?", done.stdout)
    return int(found.group(1)) if done.returncode == 0 and found else 0


def client_program(name: str, server_major: int) -> str:
    """`pg_dump`, `pg_restore`...: one at least as new as the server (pg_dump refuses a newer server).

    Candidates: the one on PATH (e.g. Debian's postgresql-client), then pgserver's own.
    """
    import pgserver

    bundled = Path(pgserver.__file__).parent / "pginstall" / "bin" / name
    candidates = [c for c in (shutil.which(name), str(bundled)) if c and Path(c).is_file()]
    for candidate in candidates:
        if _major(candidate) >= server_major:
            return candidate
    found = ", ".join(f"{c} ({_major(c)})" for c in candidates) or "none"
    raise BackupError(
        f"no {name} for PostgreSQL {server_major} or newer (found: {found}); install the client programs "
        f"of your server's version (e.g. apt install postgresql-client-{server_major})"
    )


def _env(address: ServerAddress) -> dict[str, str]:
    env = dict(os.environ)
    env |= {"PGHOST": address.host, "PGPORT": str(address.port), "PGUSER": address.user}
    if address.password:
        env["PGPASSWORD"] = address.password  # in the child's environment only, never on its command line
    return env


@dataclass
class _Server:
    """One server's address and major version, and the client programs chosen for it (each once)."""

    address: ServerAddress
    major: int
    programs: dict[str, str] = field(default_factory=dict)

    def run(self, program: str, *args: str) -> None:
        if program not in self.programs:
            self.programs[program] = client_program(program, self.major)
        done = subprocess.run([self.programs[program], *args], env=_env(self.address), capture_output=True, text=True)
        if done.returncode != 0:
            raise BackupError(f"{program} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


async def _connect(address: ServerAddress) -> tuple[asyncpg.Connection, _Server]:
    conn = await asyncpg.connect(**address.connect_kwargs(), database="postgres")
    major = int(await conn.fetchval("SHOW server_version_num")) // 10000
    return conn, _Server(address, major)


async def backup(address: ServerAddress, configs: list[ButlerConfig], root: Path, folder: Path) -> BackupReport:
    """Dump every configured butler's database that exists, and copy the butler configs, into `folder`."""
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{folder} is not empty: back up into a new folder")
    wanted = sorted({database_name(c.name) for c in configs})
    conn, server = await _connect(address)
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname = ANY($1::text[])", wanted)
    finally:
        await conn.close()
    present = sorted(r["datname"] for r in rows)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)  # the dumps hold the user's mail, contacts and health records
    for db in present:
        server.run("pg_dump", "--format=custom", "--no-owner", f"--file={folder / (db + '.dump')}", db)
    shutil.copytree(root, folder / "butlers.d", ignore=shutil.ignore_patterns(".*"))
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "butlers_version": version("butlers"),
        "databases": present,
        "butlers": sorted(c.name for c in configs),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return BackupReport(folder, present)


def read_manifest(folder: Path) -> dict[str, object]:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{path} not found: not a backup made by `butlerctl backup`") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path} cannot be read: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: unknown backup format {manifest.get('format')!r} (expected {FORMAT})")
    return manifest


async def _refuse_if_in_use(conn: asyncpg.Connection, databases: list[str]) -> None:
    rows = await conn.fetch(
        "SELECT DISTINCT datname FROM pg_stat_activity WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()",
        databases,
    )
    if rows:
        busy = ", ".join(sorted(r["datname"] for r in rows))
        raise BackupError(f"database(s) in use: {busy}; stop butlerd before restoring")


async def restore(address: ServerAddress, folder: Path) -> BackupReport:
    """Recreate every database of the backup from its dump (replacing what is there)."""
    manifest = read_manifest(folder)
    databases = [str(d) for d in manifest.get("databases", [])]  # type: ignore[attr-defined]
    missing = [d for d in databases if not (folder / f"{d}.dump").is_file()]
    if missing:
        raise BackupError(f"{folder}: dump file(s) missing for {', '.join(missing)}")
    conn, server = await _connect(address)
    try:
        await _refuse_if_in_use(conn, databases)
    finally:
        await conn.close()
    for db in databases:
        server.run("dropdb", "--if-exists", db)
        server.run("createdb", db)
        server.run("pg_restore", "--no-owner", "--exit-on-error", f"--dbname={db}", str(folder / f"{db}.dump"))
    return BackupReport(folder, databases)
