"""`butlerctl backup` and `restore` on the embedded server: a fresh data dir gets everything back."""

from __future__ import annotations

import shutil
import stat
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest
from fastmcp import Client
from typer.testing import CliRunner

from butlers.backup import BackupError, backup, restore
from butlers.butler import Butler
from butlers.cli.butlerctl import app
from butlers.config import load_butler_config
from butlers.db import PostgresServer, ServerAddress, database_name
from butlers.settings import Settings
from butlers.testing.ports import free_port


@pytest.fixture
def homes() -> Iterator[Path]:
    # Outside pytest's basetemp: the embedded server (run as another user under root) must traverse it.
    folder = Path(tempfile.mkdtemp(prefix="butlers-test-backup-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def write_butler(root: Path) -> None:
    (root / "alpha").mkdir(parents=True)
    (root / "alpha" / "butler.toml").write_text(f'[butler]\nname = "alpha"\nport = {free_port()}\n\n[modules.notes]\n')
    (root / "alpha" / "CLAUDE.md").write_text("You are alpha.\n")


async def with_butler(settings: Settings, work: Any) -> Any:
    server = PostgresServer(settings)
    address = await server.start()
    butler = Butler(load_butler_config(settings.dir / "alpha"), settings, address)
    try:
        mcp = await butler.start()
        async with Client(mcp) as client:
            return await work(client, butler)
    finally:
        await butler._shutdown()
        await server.stop()


async def seed(client: Client, butler: Butler) -> dict[str, Any]:
    await client.call_tool("state_set", {"key": "groceries", "value": ["milk", "bread"]})
    await client.call_tool("schedule_create", {"name": "daily", "cron": "0 9 * * *", "prompt": "Plan my day"})
    await client.call_tool("notes_add", {"title": "bike", "body": "frame 56 cm"})
    session = (await client.call_tool("trigger", {"prompt": "hello"})).structured_content

    async def send(args: dict[str, Any]) -> dict[str, Any]:
        return {"sent": args}

    butler.approvals.register("postcard_send", send)  # a gated action, as a module registers one
    held = await butler.approvals.guard("postcard_send", {"to": "Anna"}, require=True, summary="send a postcard")
    assert session is not None
    return {"session": session["session_id"], "approval": held["approval_id"]}


async def read_back(client: Client, butler: Butler) -> dict[str, Any]:
    async def tool(name: str, args: dict[str, Any]) -> Any:
        return (await client.call_tool(name, args)).structured_content

    return {
        "state": await tool("state_get", {"key": "groceries"}),
        "schedules": await tool("schedule_list", {}),
        "notes": await tool("notes_list", {}),
        "sessions": await tool("sessions_list", {}),
        "approvals": await tool("approvals_list", {"status": "all"}),
    }


def test_backup_then_restore_into_a_fresh_data_dir_finds_everything(homes: Path) -> None:
    root = homes / "butlers.d"
    write_butler(root)
    first = Settings(dir=root, data_dir=homes / "first")
    ids = anyio.run(with_butler, first, seed)

    env = {"BUTLERS_DIR": str(root), "BUTLERS_DATA_DIR": str(first.data_dir), "POSTGRES_HOST": ""}
    made = CliRunner().invoke(app, ["backup", str(homes / "backup"), "--json"], env=env)
    assert made.exit_code == 0, made.output
    assert '"butler_alpha"' in made.stdout
    assert stat.S_IMODE((homes / "backup").stat().st_mode) == 0o700
    again = CliRunner().invoke(app, ["backup", str(homes / "backup")], env=env)
    assert again.exit_code == 1 and "not empty" in again.output

    fresh_root = homes / "restored.d"
    fresh = {"BUTLERS_DIR": str(fresh_root), "BUTLERS_DATA_DIR": str(homes / "fresh"), "POSTGRES_HOST": ""}
    restored = CliRunner().invoke(app, ["restore", str(homes / "backup")], env=fresh)
    assert restored.exit_code == 0, restored.output
    assert (fresh_root / "alpha" / "butler.toml").is_file()

    back = anyio.run(with_butler, Settings(dir=fresh_root, data_dir=homes / "fresh"), read_back)
    assert back["state"]["value"] == ["milk", "bread"]
    assert [s["name"] for s in back["schedules"]["schedules"]] == ["daily"]
    assert [n["title"] for n in back["notes"]["result"]] == ["bike"]
    assert ids["session"] in [s["id"] for s in back["sessions"]["sessions"]]
    assert ids["approval"] in [a["id"] for a in back["approvals"]["approvals"]]


def test_restore_refuses_a_folder_that_is_no_backup(homes: Path) -> None:
    (homes / "empty").mkdir()
    done = CliRunner().invoke(app, ["restore", str(homes / "empty")], env={"BUTLERS_DATA_DIR": str(homes / "d")})
    assert done.exit_code == 1
    assert "manifest.json not found" in done.output


async def test_restore_refuses_a_database_in_use_and_replaces_nothing(homes: Path, pg_address: ServerAddress) -> None:
    name = f"inuse_{uuid.uuid4().hex[:8]}"
    db = database_name(name)
    admin = await asyncpg.connect(**pg_address.connect_kwargs(), database="postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{db}"')
    finally:
        await admin.close()
    holder = await asyncpg.connect(**pg_address.connect_kwargs(), database=db)
    try:
        await holder.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (1)")
        (homes / "b" / name).mkdir(parents=True)
        (homes / "b" / name / "butler.toml").write_text(f'[butler]\nname = "{name}"\nport = {free_port()}\n')
        config = load_butler_config(homes / "b" / name)
        await backup(pg_address, [config], homes / "b", homes / "backup")
        await holder.execute("INSERT INTO kept VALUES (2)")  # written after the backup, while in use
        with pytest.raises(BackupError, match=f"database\\(s\\) in use: {db}; stop butlerd before restoring"):
            await restore(pg_address, homes / "backup")
        assert await holder.fetchval("SELECT count(*) FROM kept") == 2  # nothing was replaced
    finally:
        await holder.close()
        admin = await asyncpg.connect(**pg_address.connect_kwargs(), database="postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        finally:
            await admin.close()
