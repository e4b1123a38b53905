"""Run as a separate process by test_spawner: a butler whose agent is mid-session when it gets SIGKILLed.

python crashing_daemon.py <database uri> <stand-in base url> <work dir>
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
from spawner_helpers import butler_config, state_server

from butlers.core.spawner import Spawner
from butlers.db import ServerAddress, create_pool
from butlers.testing.asgi import serve_asgi


async def main(uri: str, base_url: str, work: Path) -> None:
    database = uri.split("?")[0].rsplit("/", 1)[1]
    pool = await create_pool(ServerAddress.from_uri(uri), database)
    mcp = state_server(pool)
    async with serve_asgi(mcp.http_app(path="/mcp")) as url:
        model_env = {"ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": base_url, "CLAUDE_CODE_MAX_RETRIES": "0"}
        config = butler_config(work / "butlers.d" / "general")
        spawner = Spawner("general", config, pool, f"{url}/mcp", work / "data", {}, model_env=model_env)
        async with anyio.create_task_group() as tg:
            await tg.start(spawner.run)
            await spawner.trigger("long job")  # runs (max_concurrency 1) and hangs on the model
            await spawner.trigger("next job")  # stays queued
            print("triggered", flush=True)
            await anyio.sleep_forever()  # until SIGKILL


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], Path(sys.argv[3]))
