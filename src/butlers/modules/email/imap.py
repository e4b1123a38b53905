"""A small IMAP client over aioimaplib: connect (TLS, STARTTLS or plain), login, the few commands we use."""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import aioimaplib
import anyio

from butlers.modules.email.config import Endpoint

T = TypeVar("T")

_FETCH = re.compile(rb"^\d+ FETCH \(")
_UID = re.compile(rb"UID (\d+)")
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_UIDNEXT = re.compile(rb"UIDNEXT (\d+)")


class ImapError(Exception):
    """The IMAP server could not be reached, refused a login, or answered a command with NO/BAD."""


@dataclass(frozen=True)
class Fetched:
    uid: int
    flags: frozenset[str]
    data: bytes


@dataclass(frozen=True)
class MailboxInfo:
    uidvalidity: int
    uidnext: int


def quote(text: str) -> str:
    """An IMAP quoted string (no CR/LF: callers validate that)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapClient:
    """`async with ImapClient(endpoint, user, password) as imap:` — logged in, nothing selected."""

    def __init__(self, endpoint: Endpoint, user: str, password: str, timeout: float = 20.0) -> None:
        self.endpoint = endpoint
        self.user = user
        self.password = password
        self.timeout = timeout
        self._c: aioimaplib.IMAP4 | None = None
        self._lost = asyncio.Event()  # set when the server drops the connection: pending commands fail at once

    @property
    def client(self) -> aioimaplib.IMAP4:
        assert self._c is not None, "not connected"
        return self._c

    async def __aenter__(self) -> ImapClient:
        ep = self.endpoint
        try:
            with anyio.fail_after(self.timeout):
                if ep.security == "tls":
                    self._c = aioimaplib.IMAP4_SSL(
                        ep.host, ep.port, timeout=self.timeout, ssl_context=ssl.create_default_context()
                    )
                else:
                    self._c = aioimaplib.IMAP4(ep.host, ep.port, timeout=self.timeout)
                self._c.protocol.conn_lost_cb = lambda _exc: self._lost.set()
                await self._c.wait_hello_from_server()
                if ep.security == "starttls":
                    await self._starttls()
                resp = await self._c.login(self.user, self.password)
        except ImapError:
            await self._abort()
            raise
        except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
            await self._abort()
            raise ImapError(f"IMAP server {ep.host}:{ep.port} unreachable: {type(exc).__name__}: {exc}") from exc
        if resp.result != "OK":
            await self._abort()
            raise ImapError(f"IMAP login as {self.user} at {ep.host}:{ep.port} refused: {_text(resp)}")
        return self

    async def _starttls(self) -> None:
        protocol = self.client.protocol
        resp = await protocol.execute(aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop))
        if resp.result != "OK":
            raise ImapError(f"IMAP server {self.endpoint.host} refused STARTTLS: {_text(resp)}")
        loop = asyncio.get_running_loop()
        transport = await loop.start_tls(
            protocol.transport, protocol, ssl.create_default_context(), server_hostname=self.endpoint.host
        )
        protocol.transport = transport
        await protocol.capability()

    async def _abort(self) -> None:
        if self._c is not None and self._c.protocol is not None and self._c.protocol.transport is not None:
            self._c.protocol.transport.close()
        self._c = None

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._c is None:
            return
        try:
            if not self._lost.is_set():
                with anyio.move_on_after(min(self.timeout, 5), shield=True):
                    await self._c.logout()
        except Exception:
            pass
        finally:
            await self._abort()

    async def _race(self, what: str, coro: Awaitable[T], timeout: float) -> T:
        """`coro`'s result, or ImapError as soon as the connection is lost or `timeout` passes."""
        task = asyncio.ensure_future(coro)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            done, _ = await asyncio.wait({task, lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not task.done():
                task.cancel()
        if task not in done:
            reason = "the server closed the connection" if self._lost.is_set() else f"no answer within {timeout}s"
            raise ImapError(f"IMAP {what} failed: {reason}")
        try:
            return task.result()
        except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
            raise ImapError(f"IMAP {what} failed: {type(exc).__name__}: {exc}") from exc

    async def _run(self, what: str, coro: Awaitable[aioimaplib.Response]) -> aioimaplib.Response:
        resp = await self._race(what, coro, self.timeout)
        if resp.result != "OK":
            raise ImapError(f"IMAP {what} failed: {_text(resp)}")
        return resp

    @property
    def has_idle(self) -> bool:
        return self.client.has_capability("IDLE")

    async def select(self, mailbox: str, *, readonly: bool = False) -> MailboxInfo:
        name = quote(mailbox)
        cmd = self.client.examine(name) if readonly else self.client.select(name)
        resp = await self._run(f"SELECT {mailbox}", cmd)
        if readonly:  # aioimaplib tracks SELECT only; EXAMINE selects the mailbox just as well
            self.client.protocol.state = aioimaplib.SELECTED
        joined = b"\n".join(bytes(line) for line in resp.lines)
        validity, nxt = _UIDVALIDITY.search(joined), _UIDNEXT.search(joined)
        return MailboxInfo(int(validity.group(1)) if validity else 0, int(nxt.group(1)) if nxt else 0)

    async def search(self, *criteria: str) -> list[int]:
        resp = await self._run("UID SEARCH", self.client.uid_search(*criteria))
        uids: list[int] = []
        for line in resp.lines[:-1]:
            text = bytes(line).strip()
            if re.fullmatch(rb"[\d ]*", text):
                uids.extend(int(u) for u in text.split())
        return sorted(set(uids))

    async def fetch(self, uids: list[int], parts: str) -> list[Fetched]:
        if not uids:
            return []
        resp = await self._run("UID FETCH", self.client.uid("fetch", ",".join(map(str, uids)), f"(UID FLAGS {parts})"))
        out: list[Fetched] = []
        lines = resp.lines
        for i, line in enumerate(lines):
            if isinstance(line, bytearray) or not _FETCH.match(line):
                continue
            uid = _UID.search(line)
            if uid is None:
                continue
            data = bytes(lines[i + 1]) if i + 1 < len(lines) and isinstance(lines[i + 1], bytearray) else b""
            tail = bytes(lines[i + 2]) if data and i + 2 < len(lines) else b""
            flags = _FLAGS.search(line) or _FLAGS.search(tail)
            out.append(
                Fetched(int(uid.group(1)), frozenset(flags.group(1).decode().split()) if flags else frozenset(), data)
            )
        return out

    async def store(self, uid: int, op: str, flags: str) -> None:
        await self._run("UID STORE", self.client.uid("store", str(uid), op, f"({flags})"))

    async def append(self, mailbox: str, data: bytes, flags: str) -> None:
        await self._run(f"APPEND {mailbox}", self.client.append(data, mailbox=quote(mailbox), flags=f"({flags})"))

    async def create(self, mailbox: str) -> None:
        await self._run(f"CREATE {mailbox}", self.client.create(quote(mailbox)))

    async def idle_wait(self, seconds: float, on_idle: Callable[[bool], None] = lambda _: None) -> bool:
        """IMAP IDLE for up to `seconds`; True when the server announced a change.

        `on_idle(True)` is called once the server has confirmed IDLE, `on_idle(False)` when it ends.
        """
        c = self.client
        idle = await self._race("IDLE", c.idle_start(timeout=seconds), self.timeout)
        on_idle(True)
        try:
            return await self._idle_until_push(idle, seconds)
        finally:
            on_idle(False)

    async def _idle_until_push(self, idle: asyncio.Future[Any], seconds: float) -> bool:
        c = self.client
        try:
            push = await self._race("IDLE", c.wait_server_push(timeout=seconds + 5), seconds + 10)
        except ImapError:
            if self._lost.is_set():
                raise
            push = None
        if c.has_pending_idle():
            c.idle_done()
        await self._race("IDLE", idle, self.timeout)
        return isinstance(push, list) and any(b"EXISTS" in bytes(line) for line in push)


def _text(resp: aioimaplib.Response) -> str:
    return " ".join(bytes(line).decode(errors="replace") for line in resp.lines[-1:]) or resp.result
