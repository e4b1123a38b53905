"""The email module against a real Dovecot (IMAP) and a real aiosmtpd (SMTP), both on 127.0.0.1."""

from __future__ import annotations

import inspect
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import anyio
import asyncpg
import pytest
from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError

from butlers.core.approvals import ApprovalGate
from butlers.core.inbound import InboundLog
from butlers.db import ServerAddress
from butlers.migrate import apply_migrations
from butlers.modules.base import ModuleContext
from butlers.modules.email import EmailConfig, EmailModule
from butlers.testing.mail_servers import TestDovecot, TestSmtpServer, make_certificate
from butlers.testing.module_contract import check_module_contract
from support.system_packages import ensure_mail_programs

USER = "me@example.test"
PASSWORD = "s3cret"
CREDS = {"SOURCE_EMAIL": USER, "SOURCE_EMAIL_PASSWORD": PASSWORD}


async def wait_for(condition: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll `condition` (sync or async) until it gives something truthy; fail naming `what` after `timeout` s."""
    try:
        with anyio.fail_after(timeout):
            while True:
                value = condition()
                if inspect.isawaitable(value):
                    value = await value
                if value:
                    return value
                await anyio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


@pytest.fixture
def dovecot() -> Iterator[TestDovecot]:
    ensure_mail_programs()
    folder = Path(tempfile.mkdtemp(prefix="butlers-dovecot-"))
    server = TestDovecot(folder / "imap", user=USER, password=PASSWORD)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def smtp() -> Iterator[TestSmtpServer]:
    server = TestSmtpServer(user=USER, password=PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def migrated(pg_address: ServerAddress, database: str) -> None:
    assert EmailModule.migrations_dir is not None
    await apply_migrations(pg_address, database, EmailModule.migrations_dir, owner="email")


def config(dovecot: TestDovecot, smtp: TestSmtpServer, **extra: Any) -> EmailConfig:
    return EmailConfig.model_validate(
        {
            "imap_host": dovecot.host,
            "imap_port": dovecot.port,
            "smtp_host": smtp.host,
            "smtp_port": smtp.port,
            "security": "none",
            "poll_interval_s": 0.2,
            "timeout_s": 5,
            **extra,
        }
    )


def context(pool: asyncpg.Pool, data_dir: Path, gate: ApprovalGate | None = None) -> ModuleContext:
    return ModuleContext(
        butler="mail",
        pool=pool,
        directory=data_dir,
        data_dir=data_dir,
        credentials=dict(CREDS),
        inbound=InboundLog(pool, None, "mail"),
        approvals=gate or ApprovalGate(pool, "mail"),
    )


def mail(subject: str, *, sender: str = "Alice <alice@example.test>", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = USER
    msg["Subject"] = subject
    msg["Date"] = "Tue, 10 Mar 2026 09:00:00 +0000"
    msg["Message-ID"] = headers.pop("message_id", f"<{uuid.uuid4().hex}@example.test>")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(f"Body of {subject}\n")
    return msg


async def call(client: Client, tool: str, **args: Any) -> Any:
    result = (await client.call_tool(tool, args)).structured_content
    return result["result"] if isinstance(result, dict) and set(result) == {"result"} else result


@pytest.fixture
async def tools(
    migrated: None, pool: asyncpg.Pool, data_dir: Path, dovecot: TestDovecot, smtp: TestSmtpServer
) -> AsyncIterator[Client]:
    mcp = FastMCP("test")
    EmailModule(config(dovecot, smtp)).register_tools(mcp, context(pool, data_dir))
    async with Client(mcp) as client:
        yield client


async def test_the_module_passes_the_contract(
    pg_address: ServerAddress, database: str, data_dir: Path, dovecot: TestDovecot, smtp: TestSmtpServer
) -> None:
    table = config(dovecot, smtp).model_dump(exclude_none=True)
    report = await check_module_contract(EmailModule, table, pg_address, database, data_dir, credentials=CREDS)
    assert report.tools == ["email_draft", "email_mark", "email_read", "email_reply", "email_search", "email_send"]
    assert report.migrations_applied


async def test_delivered_mail_is_found_read_and_flagged(tools: Client, dovecot: TestDovecot) -> None:
    dovecot.deliver(mail("Groceries", sender="Bob <bob@example.test>"))
    with_file = mail("Invoice March", Cc="carol@example.test")
    with_file.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="invoice.pdf")
    dovecot.deliver(with_file)
    dovecot.deliver(mail("Old news"), flags="\\Seen")

    everything = await call(tools, "email_search")
    assert [m["subject"] for m in everything] == ["Old news", "Invoice March", "Groceries"]  # newest first
    assert [m["unread"] for m in everything] == [False, True, True]
    assert [m["subject"] for m in await call(tools, "email_search", sender="bob@example.test")] == ["Groceries"]
    assert [m["subject"] for m in await call(tools, "email_search", subject="invoice")] == ["Invoice March"]
    assert len(await call(tools, "email_search", unread=True)) == 2
    assert len(await call(tools, "email_search", since="2020-01-01")) == 3
    assert await call(tools, "email_search", subject="nothing like this") == []

    invoice = next(m for m in everything if m["subject"] == "Invoice March")
    read = await call(tools, "email_read", uid=invoice["uid"])
    assert read["from"] == "Alice <alice@example.test>"
    assert read["to"] == USER and read["cc"] == "carol@example.test"
    assert read["message_id"] == with_file["Message-ID"]
    assert read["body"].strip() == "Body of Invoice March"
    assert read["attachments"] == ["invoice.pdf"]
    assert read["unread"] is True  # reading does not mark it read

    marked = await call(tools, "email_mark", uid=invoice["uid"], read=True, flagged=True)
    assert marked == {"uid": invoice["uid"], "unread": False, "flagged": True}
    flags = {uid: f for uid, f, _ in dovecot.fetch_all()}
    assert {"\\Seen", "\\Flagged"} <= flags[invoice["uid"]]
    assert [m["subject"] for m in await call(tools, "email_search", unread=True)] == ["Groceries"]
    assert (await call(tools, "email_mark", uid=invoice["uid"], flagged=False))["flagged"] is False

    with pytest.raises(ToolError, match="email_read: argument 'uid': no message with uid 999"):
        await call(tools, "email_read", uid=999)
    with pytest.raises(ToolError, match="email_search: argument 'since'"):
        await call(tools, "email_search", since="last week")
    with pytest.raises(ToolError, match="email_mark: argument 'read'"):
        await call(tools, "email_mark", uid=invoice["uid"])


async def test_sent_mail_arrives_with_the_right_headers_and_is_recorded(
    tools: Client, smtp: TestSmtpServer, pool: asyncpg.Pool
) -> None:
    sent = await call(
        tools,
        "email_send",
        to=["Bob <bob@example.test>", "dave@example.test"],
        cc=["carol@example.test"],
        subject="Dinner on Friday",
        body="Shall we?",
    )
    assert sent["status"] == "sent"
    (got,) = smtp.snapshot()
    assert got.login == USER
    assert got.mail_from == USER
    assert sorted(got.rcpt_tos) == ["bob@example.test", "carol@example.test", "dave@example.test"]
    msg = got.message
    assert msg["From"] == USER
    assert msg["To"] == "Bob <bob@example.test>, dave@example.test"
    assert msg["Cc"] == "carol@example.test"
    assert msg["Subject"] == "Dinner on Friday"
    assert msg["Message-ID"] == sent["message_id"] and sent["message_id"].endswith("@example.test>")
    assert msg.get_content().strip() == "Shall we?"
    row = await pool.fetchrow("SELECT * FROM email_sent WHERE message_id = $1", sent["message_id"])
    assert (
        row is not None and row["kind"] == "send" and row["to_addrs"] == ["Bob <bob@example.test>", "dave@example.test"]
    )

    for bad, argument in (
        ({"to": []}, "to"),
        ({"to": ["not-an-address"]}, "to"),
        ({"subject": "a\nBcc: x@y.z"}, "subject"),
    ):
        args = {"to": ["bob@example.test"], "subject": "s", "body": "b", **bad}
        with pytest.raises(ToolError, match=f"email_send: argument '{argument}'"):
            await call(tools, "email_send", **args)
    assert len(smtp.snapshot()) == 1
    assert await pool.fetchval("SELECT count(*) FROM email_sent") == 1


async def test_reply_threads_right(
    tools: Client, dovecot: TestDovecot, smtp: TestSmtpServer, pool: asyncpg.Pool
) -> None:
    dovecot.deliver(
        mail(
            "Dinner on Friday",
            message_id="<second@example.test>",
            References="<first@example.test>",
            Reply_To="Alice Home <alice@home.example.test>",
        )
    )
    (original,) = await call(tools, "email_search")
    sent = await call(tools, "email_reply", uid=original["uid"], body="Yes, 8pm.")
    (got,) = smtp.snapshot()
    msg = got.message
    assert msg["To"] == "Alice Home <alice@home.example.test>"
    assert got.rcpt_tos == ["alice@home.example.test"]
    assert msg["Subject"] == "Re: Dinner on Friday"
    assert msg["In-Reply-To"] == "<second@example.test>"
    assert msg["References"] == "<first@example.test> <second@example.test>"
    assert msg["Message-ID"] == sent["message_id"]
    kind, in_reply_to = cast(
        asyncpg.Record,
        await pool.fetchrow("SELECT kind, in_reply_to FROM email_sent WHERE message_id = $1", sent["message_id"]),
    )
    assert (kind, in_reply_to) == ("reply", "<second@example.test>")

    dovecot.deliver(mail("Re: Already a reply", message_id="<third@example.test>"))
    third = next(m for m in await call(tools, "email_search") if m["message_id"] == "<third@example.test>")
    await call(tools, "email_reply", uid=third["uid"], body="ok")
    assert smtp.snapshot()[-1].message["Subject"] == "Re: Already a reply"  # no "Re: Re:"


async def test_draft_goes_to_the_drafts_folder(tools: Client, dovecot: TestDovecot, smtp: TestSmtpServer) -> None:
    drafted = await call(tools, "email_draft", to=["bob@example.test"], subject="Thoughts", body="Later.")
    assert drafted["status"] == "drafted"
    ((_, flags, msg),) = dovecot.fetch_all("Drafts")
    assert "\\Draft" in flags
    assert msg["Subject"] == "Thoughts" and msg["Message-ID"] == drafted["message_id"]
    assert smtp.snapshot() == []  # a draft is not sent


async def inbound_rows(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT external_id, sender, subject, text, status FROM inbound_messages ORDER BY stored_at"
    )


async def watch_row(pool: asyncpg.Pool) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT uidvalidity, last_uid FROM email_watch WHERE mailbox = 'INBOX'")


async def test_new_mail_becomes_exactly_one_inbound_message_also_across_a_restart(
    migrated: None, pool: asyncpg.Pool, data_dir: Path, dovecot: TestDovecot, smtp: TestSmtpServer
) -> None:
    dovecot.deliver(mail("Already there"))  # mail present at the first start is not new
    first = EmailModule(config(dovecot, smtp))
    ctx = context(pool, data_dir)
    await first.on_startup(ctx)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(first.serve, ctx)
            await wait_for(lambda: watch_row(pool), what="the watcher's first look")
            dovecot.deliver(mail("Hello there", message_id="<one@example.test>"))
            rows = await wait_for(lambda: inbound_rows(pool), what="the inbound message")
            polled_at = first.last_poll_at
            await wait_for(lambda: first.last_poll_at != polled_at, what="another poll")
            tg.cancel_scope.cancel()
    finally:
        await first.on_shutdown(ctx)
    assert [(r["external_id"], r["subject"], r["status"]) for r in rows] == [
        ("<one@example.test>", "Hello there", "received")
    ]
    assert rows[0]["sender"] == "Alice <alice@example.test>" and rows[0]["text"].strip() == "Body of Hello there"

    # While it is down a second mail arrives; and as if it crashed before saving how far it got,
    # the stored position goes back: the first mail is seen again and must not be stored twice.
    dovecot.deliver(mail("While you were out", message_id="<two@example.test>"))
    await pool.execute("UPDATE email_watch SET last_uid = 1")

    second = EmailModule(config(dovecot, smtp))
    ctx = context(pool, data_dir)
    await second.on_startup(ctx)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(second.serve, ctx)

            async def caught_up() -> bool:
                row = await watch_row(pool)
                return row is not None and row["last_uid"] == 3

            await wait_for(caught_up, what="the restarted watcher to catch up")
            polled_at = second.last_poll_at
            await wait_for(lambda: second.last_poll_at != polled_at, what="another poll")
            tg.cancel_scope.cancel()
    finally:
        await second.on_shutdown(ctx)
    assert [r["external_id"] for r in await inbound_rows(pool)] == ["<one@example.test>", "<two@example.test>"]


async def test_idle_notices_new_mail_without_waiting_for_the_poll(
    migrated: None, pool: asyncpg.Pool, data_dir: Path, dovecot: TestDovecot, smtp: TestSmtpServer
) -> None:
    module = EmailModule(config(dovecot, smtp, idle=True, poll_interval_s=120))
    ctx = context(pool, data_dir)
    await module.on_startup(ctx)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(module.serve, ctx)
            await wait_for(lambda: watch_row(pool))
            await wait_for(lambda: module.idling, what="the watcher to wait in IDLE")
            dovecot.deliver(mail("Pushed", message_id="<pushed@example.test>"))
            rows = await wait_for(lambda: inbound_rows(pool), timeout=20)
            tg.cancel_scope.cancel()
    finally:
        await module.on_shutdown(ctx)
    assert [r["external_id"] for r in rows] == ["<pushed@example.test>"]


async def test_a_down_imap_server_is_unhealthy_and_recovers(
    migrated: None, pool: asyncpg.Pool, data_dir: Path, dovecot: TestDovecot, smtp: TestSmtpServer
) -> None:
    module = EmailModule(config(dovecot, smtp))
    ctx = context(pool, data_dir)
    mcp = FastMCP("test")
    await module.on_startup(ctx)
    module.register_tools(mcp, ctx)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(module.serve, ctx)
            assert (await module.health())["ok"] is True
            await wait_for(lambda: watch_row(pool))

            dovecot.stop()
            health = await module.health()
            assert health["ok"] is False and f"127.0.0.1:{dovecot.port}" in health["error"]
            async with Client(mcp) as client:
                with pytest.raises(
                    ToolError, match=rf"email_search: IMAP server 127\.0\.0\.1:{dovecot.port} unreachable"
                ):
                    await call(client, "email_search")
                # Still serving: what does not need IMAP works.
                assert (await call(client, "email_send", to=["bob@example.test"], subject="s", body="b"))[
                    "status"
                ] == "sent"
            await wait_for(lambda: module.last_error is not None, what="the watcher to notice")

            dovecot.start()

            async def healthy() -> bool:
                return bool((await module.health())["ok"])

            await wait_for(healthy, what="health to recover")
            dovecot.deliver(mail("After the outage", message_id="<after@example.test>"))
            rows = await wait_for(lambda: inbound_rows(pool), timeout=20, what="the watcher to recover")
            assert [r["external_id"] for r in rows] == ["<after@example.test>"]
            tg.cancel_scope.cancel()
    finally:
        await module.on_shutdown(ctx)


async def test_approval_gate_holds_outbound_mail_until_approved(
    migrated: None, pool: asyncpg.Pool, data_dir: Path, dovecot: TestDovecot, smtp: TestSmtpServer
) -> None:
    gate = ApprovalGate(pool, "mail")
    mcp = FastMCP("test")
    EmailModule(config(dovecot, smtp, require_approval=["email_send"])).register_tools(
        mcp, context(pool, data_dir, gate)
    )
    async with Client(mcp) as client:
        pending = await call(client, "email_send", to=["bob@example.test"], subject="Wire the money", body="now")
        rejected = await call(client, "email_send", to=["eve@example.test"], subject="Never", body="no")
        # Not in require_approval: goes out at once.
        await call(client, "email_draft", to=["bob@example.test"], subject="d", body="b")
    assert pending["status"] == "pending_approval" and "bob@example.test" in pending["summary"]
    assert smtp.snapshot() == []
    assert await pool.fetchval("SELECT count(*) FROM email_sent") == 0

    await gate.reject(uuid.UUID(rejected["approval_id"]), "no")
    outcome = await gate.approve(uuid.UUID(pending["approval_id"]))
    again = await gate.approve(uuid.UUID(pending["approval_id"]))
    assert outcome.status == again.status == "succeeded"
    (got,) = smtp.snapshot()  # approved once, twice: sent once; the rejected one never
    assert got.message["Subject"] == "Wire the money" and got.rcpt_tos == ["bob@example.test"]
    assert await pool.fetchval("SELECT message_id FROM email_sent") == got.message["Message-ID"]


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_tls_and_starttls_with_verified_certificates(
    security: str, migrated: None, pool: asyncpg.Pool, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_mail_programs()
    folder = Path(tempfile.mkdtemp(prefix="butlers-dovecot-tls-"))
    cert = make_certificate(folder / "cert")
    imap = TestDovecot(folder / "imap", user=USER, password=PASSWORD, certificate=cert)
    smtp = TestSmtpServer(user=USER, password=PASSWORD, security=security, certificate=cert)
    imap.start()
    smtp.start()
    try:
        table = {
            "imap_host": "127.0.0.1",
            "imap_port": imap.tls_port if security == "tls" else imap.port,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "security": security,
            "timeout_s": 5,
        }
        module = EmailModule(EmailConfig.model_validate(table))
        ctx = context(pool, data_dir)
        module._ctx = ctx  # health() without starting the watcher
        # The self-signed certificate is not trusted yet: no connection, and health says why.
        health = await module.health()
        assert health["ok"] is False and "CERTIFICATE_VERIFY_FAILED" in health["error"]

        monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))  # now Python's default context trusts it
        assert (await module.health())["ok"] is True
        imap.deliver(mail("Over TLS"))
        mcp = FastMCP("test")
        module.register_tools(mcp, ctx)
        async with Client(mcp) as client:
            (found,) = await call(client, "email_search")
            assert (await call(client, "email_read", uid=found["uid"]))["subject"] == "Over TLS"
            sent = await call(client, "email_send", to=["bob@example.test"], subject="Encrypted", body="b")
        (got,) = smtp.snapshot()
        assert got.login == USER and got.message["Message-ID"] == sent["message_id"]
    finally:
        smtp.stop()
        imap.stop()
        shutil.rmtree(folder, ignore_errors=True)
