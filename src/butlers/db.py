"""The PostgreSQL server (embedded or real), database provisioning and pools.

With no `POSTGRES_HOST` the daemon starts an embedded server (the `pgserver`
package bundles the binaries) with its data under `BUTLERS_DATA_DIR/postgres`;
otherwise it connects to the server the `POSTGRES_*` variables name. Every
butler gets a database of its own, `butler_<name>`, created if missing.
"""

from __future__ import annotations

import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import anyio
import asyncpg

from butlers.errors import DatabaseError
from butlers.settings import Settings


def database_name(butler: str) -> str:
    """The database of one butler: `butler_<name>` with `-` folded to `_`."""
    return "butler_" + re.sub(r"[^a-z0-9_]", "_", butler.lower())


@dataclass(frozen=True)
class ServerAddress:
    """Where a PostgreSQL server listens: a host (or a socket folder) and port."""

    host: str
    port: int
    user: str
    password: str

    def dsn(self, database: str) -> str:
        """A libpq/asyncpg/yoyo URI for one database on this server."""
        auth = quote(self.user, safe="") + (":" + quote(self.password, safe="") if self.password else "")
        if self.host.startswith("/"):
            return f"postgresql://{auth}@/{database}?host={quote(self.host, safe='')}&port={self.port}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{database}"

    def connect_kwargs(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "user": self.user, "password": self.password or None}

    @classmethod
    def from_uri(cls, uri: str) -> ServerAddress:
        parts = urlsplit(uri)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        host = query.get("host") or parts.hostname or "localhost"
        port = int(query.get("port") or parts.port or 5432)
        return cls(host=host, port=port, user=parts.username or "postgres", password=parts.password or "")


class EmbeddedPostgres:
    """A PostgreSQL server owned by this process, data under one folder."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None
        self._early: Future[Any] | None = None

    def start_early(self) -> None:
        """Begin starting the server in a thread now, while the daemon is still importing.

        Starting PostgreSQL is mostly waiting on its processes, so it overlaps
        the second or so of imports instead of following them.
        """
        if self._early is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            with ThreadPoolExecutor(1, thread_name_prefix="embedded-postgres") as pool:
                self._early = pool.submit(self._start_sync)
                pool.shutdown(wait=False)

    async def start(self) -> ServerAddress:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        early, self._early = self._early, None
        try:
            if early is not None:
                self._server = await anyio.to_thread.run_sync(early.result)
            else:
                self._server = await anyio.to_thread.run_sync(self._start_sync)
        except Exception as exc:  # pgserver raises plain exceptions with the log's path
            raise DatabaseError(f"could not start the embedded PostgreSQL in {self.data_dir}: {exc}") from exc
        return ServerAddress.from_uri(self._server.get_uri())

    def _start_sync(self) -> Any:
        import pgserver  # imported late: it is only needed for the embedded default

        return pgserver.get_server(self.data_dir, cleanup_mode="stop")

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await anyio.to_thread.run_sync(server.cleanup)


class PostgresServer:
    """The server every butler's database lives on, started or reached once per daemon."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._embedded = EmbeddedPostgres(settings.data_dir / "postgres") if settings.embedded_postgres else None
        self.address: ServerAddress | None = None

    def start_early(self) -> None:
        """See EmbeddedPostgres.start_early; nothing to do for an external server."""
        if self._embedded is not None:
            self._embedded.start_early()

    async def start(self) -> ServerAddress:
        s = self.settings
        if self._embedded is not None:
            self.address = await self._embedded.start()
        else:
            assert s.postgres_host is not None
            self.address = ServerAddress(s.postgres_host, s.postgres_port, s.postgres_user, s.postgres_password)
        return self.address

    async def stop(self) -> None:
        if self._embedded is not None:
            await self._embedded.stop()

    @property
    def embedded(self) -> bool:  # pool budget (issue 14): the daemon may tune its own server
        return self._embedded is not None

    @property
    def description(self) -> str:
        a = self.address
        kind = "embedded" if self._embedded else "external"
        return f"{kind} PostgreSQL at {a.host}:{a.port}" if a else "not started"


async def ensure_database(address: ServerAddress, database: str) -> bool:
    """Create `database` when it does not exist; return True when it was created."""
    try:
        conn = await asyncpg.connect(database="postgres", **address.connect_kwargs())
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseError(
            f"cannot connect to PostgreSQL at {address.host}:{address.port}: {exc} (check POSTGRES_*)"
        ) from exc
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if exists:
            return False
        try:
            await conn.execute(f'CREATE DATABASE "{database}"')
        except asyncpg.DuplicateDatabaseError:  # another daemon created it meanwhile
            return False
        return True
    finally:
        await conn.close()


async def create_pool(address: ServerAddress, database: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """One pool per butler; JSONB is decoded to Python values on the way in and out."""
    try:
        pool = await asyncpg.create_pool(
            database=database, min_size=min_size, max_size=max_size, init=_init_connection, **address.connect_kwargs()
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseError(f"cannot open a pool on database {database}: {exc}") from exc
    assert pool is not None
    return pool


async def _init_connection(conn: asyncpg.Connection) -> None:
    import json

    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
