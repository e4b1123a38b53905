"""The daemon refuses a fleet whose pools cannot fit the server, naming the setting to raise."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from butlers.config import load_butler_config
from butlers.db import PostgresServer, ServerAddress
from butlers.pool_budget import ConnectionBudgetError, read_limits
from butlers.settings import Settings
from butlers.supervisor import Supervisor
from butlers.testing.ports import free_port


def configs(root: Path, count: int) -> list:
    out = []
    for i in range(count):
        folder = root / f"b{i}"
        folder.mkdir(parents=True)
        (folder / "butler.toml").write_text(f'[butler]\nname = "budget-{i}"\nport = {free_port()}\n')
        out.append(load_butler_config(folder))
    return out


async def test_too_many_butlers_for_an_external_server(tmp_path: Path, pg_address: ServerAddress) -> None:
    limits = await read_limits(pg_address)
    settings = Settings(
        dir=tmp_path / "butlers.d",
        data_dir=tmp_path / "data",
        postgres_host=pg_address.host,
        postgres_port=pg_address.port,
        postgres_user=pg_address.user,
        postgres_password=pg_address.password,
    )
    count = limits.max_connections // 3  # 3+ connections each do not fit
    supervisor = Supervisor(settings, configs(tmp_path / "butlers.d", count))
    with pytest.raises(ConnectionBudgetError, match=f"max_connections is {limits.max_connections}.*postgresql.conf"):
        await supervisor.run()
    assert supervisor.butlers == {}  # refused before any butler started


async def test_the_embedded_server_takes_the_setting_and_names_it(tmp_path: Path) -> None:
    settings = Settings(dir=tmp_path / "butlers.d", data_dir=tmp_path / "data", pg_max_connections=20)
    server = PostgresServer(settings)
    supervisor = Supervisor(settings, configs(tmp_path / "butlers.d", 3), database=server)
    try:
        with pytest.raises(ConnectionBudgetError, match="BUTLERS_PG_MAX_CONNECTIONS=25"):
            await supervisor.run()
        # The setting reached the server: ALTER SYSTEM, then a restart.
        address = await server.start()
        assert (await read_limits(address)).max_connections == 20
    finally:
        with contextlib.suppress(Exception):
            await server.stop()
