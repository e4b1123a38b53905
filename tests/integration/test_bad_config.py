"""One butler's bad config fails that butler only: the others serve, the message names file and key."""

from __future__ import annotations

from pathlib import Path

import anyio
from fastmcp import Client

from butlers.config import discover
from butlers.db import ServerAddress
from butlers.settings import Settings
from butlers.supervisor import Supervisor
from butlers.testing.ports import free_port


def write(root: Path, name: str, port: int, extra: str = "") -> Path:
    (root / name).mkdir(parents=True)
    file = root / name / "butler.toml"
    file.write_text(f'[butler]\nname = "{name}"\nport = {port}\n{extra}\n')
    return file


async def test_a_bad_time_zone_in_one_of_four_butlers_leaves_three_serving(
    tmp_path: Path, pg_address: ServerAddress
) -> None:
    root = tmp_path / "butlers.d"
    ports = {name: free_port() for name in ("one", "two", "three", "zoned")}
    for name in ("one", "two", "three"):
        write(root, name, ports[name])
    schedule = '[[butler.schedule]]\nname = "daily"\ncron = "0 8 * * *"\nprompt = "p"\ntimezone = "America"'
    bad = write(root, "zoned", ports["zoned"], schedule)
    settings = Settings(
        dir=root,
        data_dir=tmp_path / "data",
        postgres_host=pg_address.host,
        postgres_port=pg_address.port,
        postgres_user=pg_address.user,
        postgres_password=pg_address.password,
        drain_timeout_s=5,
    )
    configs, errors = discover(root)
    supervisor = Supervisor(settings, configs, errors)
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(60):
            await tg.start(supervisor.run)
        assert sorted(b.name for b in supervisor.serving) == ["one", "three", "two"]
        (failure,) = supervisor.failures.values()
        assert failure.startswith(f"{bad}: butler.schedule[0].timezone: 'America' is not a known IANA time zone")
        for name in ("one", "two", "three"):
            async with Client(f"http://127.0.0.1:{ports[name]}/mcp") as client:
                status = (await client.call_tool("status", {})).structured_content
            assert status is not None and status["name"] == name
        supervisor.request_stop()
        with anyio.fail_after(30):
            await supervisor.stopped.wait()
