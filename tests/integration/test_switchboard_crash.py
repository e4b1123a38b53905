"""A message is dispatched once even when `butlerd` is SIGKILLed between recording it and dispatching it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import asyncpg
import pytest
from switchboard_fleet import OWNER_CHAT, TOKEN, wait_until

from butlers.db import ServerAddress, create_pool, database_name
from butlers.modules.telegram import TOKEN_ENV
from butlers.testing.asgi import serve_asgi
from butlers.testing.model_api import Hang, ModelApiStandIn, classification_answer
from butlers.testing.ports import free_port
from butlers.testing.telegram_api import TelegramBotAPI

pytestmark = pytest.mark.integration

BUTLERD = str(Path(sys.executable).parent / "butlerd")


def write_fleet(root: Path, suffix: str, telegram_url: str) -> tuple[str, str]:
    switchboard, general = f"sb-{suffix}", f"general-{suffix}"
    (root / switchboard).mkdir(parents=True)
    (root / general).mkdir(parents=True)
    (root / general / "butler.toml").write_text(
        f'[butler]\nname = "{general}"\ndescription = "Catch-all"\nport = {free_port()}\n'
    )
    (root / switchboard / "butler.toml").write_text(
        f'[butler]\nname = "{switchboard}"\nport = {free_port()}\n\n'
        f'[modules.switchboard]\nfallback = "{general}"\nfollow_interval_s = 0.1\n\n'
        f'[modules.telegram]\napi_base_url = "{telegram_url}"\nallowed_chat_ids = [{OWNER_CHAT}]\npoll_timeout_s = 1\n'
    )
    return switchboard, general


def start(root: Path, data: Path, address: ServerAddress, model: ModelApiStandIn, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "BUTLERS_", "ANTHROPIC_"))}
    env |= {"BUTLERS_DIR": str(root), "BUTLERS_DATA_DIR": str(data), "BUTLERS_LOG_FORMAT": "json",
            "POSTGRES_HOST": address.host, "POSTGRES_PORT": str(address.port), "POSTGRES_USER": address.user,
            "POSTGRES_PASSWORD": address.password, TOKEN_ENV: TOKEN, "CLAUDE_CODE_MAX_RETRIES": "0",
            **model.env()}  # fmt: skip
    env["BUTLERS_DASHBOARD_ENABLED"] = "false"  # no dashboard on the real port 8200
    return subprocess.Popen([BUTLERD, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log.open("ab"))


async def test_killed_between_recording_and_dispatch_the_message_is_dispatched_once_after_restart(
    pg_address: ServerAddress, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    telegram = TelegramBotAPI(TOKEN)
    log = tmp_path / "daemon.log"
    procs: list[subprocess.Popen[bytes]] = []
    pools: list[asyncpg.Pool] = []
    with tempfile.TemporaryDirectory(prefix="butlers-crash-") as tmp:
        try:
            async with serve_asgi(telegram.app) as telegram_url, ModelApiStandIn() as model:
                switchboard, general = write_fleet(Path(tmp) / "butlers.d", suffix, telegram_url)
                model.push_classification(Hang())  # the first classification never answers: the daemon dies in it
                update = telegram.enqueue_message(OWNER_CHAT, "buy oat milk", username="owner")
                external_id = f"{OWNER_CHAT}:{update['message']['message_id']}"
                procs.append(start(Path(tmp) / "butlers.d", Path(tmp) / "data", pg_address, model, log))
                await model.wait_hanging(within_s=120)

                sb = await create_pool(pg_address, database_name(switchboard))
                pools.append(sb)
                row = await sb.fetchrow("SELECT id, status FROM inbound_messages WHERE external_id = $1", external_id)
                assert row is not None and row["status"] == "received"  # recorded, not dispatched
                procs[0].kill()  # SIGKILL: nothing runs after this
                procs[0].wait(30)

                model.push_classification(classification_answer((general, "buy oat milk")))
                procs.append(start(Path(tmp) / "butlers.d", Path(tmp) / "data", pg_address, model, log))

                async def handled() -> bool:
                    assert procs[1].poll() is None, log.read_text()[-3000:]
                    status = await sb.fetchval("SELECT status FROM inbound_messages WHERE id = $1", row["id"])
                    return bool(status == "handled")

                await wait_until(handled, "the message handled after the restart", timeout=180)
                assert await sb.fetchval("SELECT count(*) FROM inbound_messages") == 1
                decisions = await sb.fetch("SELECT * FROM routing_log WHERE inbound_id = $1", row["id"])
                assert [(d["attempt"], d["butler"], d["reason_kind"]) for d in decisions] == [(1, general, "model")]
                target = await create_pool(pg_address, database_name(general))
                pools.append(target)
                sessions = await target.fetch(
                    "SELECT id FROM sessions WHERE context->'origin'->>'inbound_id' = $1", str(row["id"])
                )
                assert [s["id"] for s in sessions] == [decisions[0]["session_id"]]
                assert len(model.classifications) == 2  # the one that hung, and the one after the restart
                assert not telegram.pending  # the update read again after the restart was confirmed
        finally:
            for p in pools:
                await p.close()
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(60)
