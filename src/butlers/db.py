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
import psutil
import structlog

from butlers.errors import DatabaseError, describe
from butlers.settings import Settings

log = structlog.get_logger(__name__)

CONNECT_TIMEOUT_S = 5.0
# A statement's bound is kept by the server (`statement_timeout`: its own running and lock waits).
# The client's bound (asyncpg's command_timeout) only catches a lost or half-open server: it is a
# timer in the event loop, so it also counts the time the loop is busy elsewhere before it reads
# the answer, which, while a daemon starts 50 butlers on a loaded machine, passed 15 s. It stays
# short all the same: a call caught on a half-open link fails after it, and no user waits a minute.
STATEMENT_TIMEOUT_S = 15.0
COMMAND_TIMEOUT_S = 25.0
POOL_OPEN_RETRIES_S = (0.5, 1.0, 2.0)  # waits between attempts to open a pool whose connect timed out


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

        forget_dead_handles(self.data_dir)
        if postmaster_alive(self.data_dir):
            # Left by a daemon that was killed: adopted, and stopped when this daemon exits.
            log.warning("database.adopting_running_server", data_dir=str(self.data_dir))
        return pgserver.get_server(self.data_dir, cleanup_mode="stop")

    def postmaster_pid(self) -> int | None:
        return postmaster_pid(self.data_dir)

    async def restart(self) -> None:
        """Start the server again after its postmaster died; same data, same socket."""
        server = self._server
        if server is None:
            raise DatabaseError("the embedded PostgreSQL was never started")

        def start_again() -> None:
            # Not under pgserver's `_lock`: that is one lock file for every pgserver user of the
            # machine, so a restart waited on other processes' server starts and stops (seconds
            # to tens of seconds on a busy host). This data folder's server is only ever started
            # by this daemon, and only from the health task, one restart at a time.
            server.ensure_postgres_running()

        await anyio.to_thread.run_sync(start_again)

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
    def restartable(self) -> bool:
        """True for the embedded server: the daemon can start it again itself."""
        return self._embedded is not None

    def postmaster_pid(self) -> int | None:
        """The embedded server's running postmaster, if any (blocking: run it in a thread)."""
        return self._embedded.postmaster_pid() if self._embedded is not None else None

    async def restart(self) -> None:
        if self._embedded is None:
            raise DatabaseError("an external PostgreSQL is not restarted by the daemon")
        await self._embedded.restart()

    @property
    def description(self) -> str:
        a = self.address
        kind = "embedded" if self._embedded else "external"
        return f"{kind} PostgreSQL at {a.host}:{a.port}" if a else "not started"


def forget_dead_handles(data_dir: Path) -> list[int]:
    """Drop the pids of dead processes from pgserver's list of the server's users; return them.

    pgserver stops the server only when the last process in that list exits; a
    daemon killed with SIGKILL never takes itself off, and its pid would keep
    every later daemon from stopping the server (it would outlive each of them).
    """
    from pgserver.postgres_server import PostgresServer as PgServer
    from pgserver.utils import DiskList

    handles = DiskList(data_dir.expanduser().resolve() / ".handle_pids.json")
    with PgServer._lock:
        pids = handles.get()
        dead = [pid for pid in pids if not psutil.pid_exists(pid)]
        if dead:
            handles.put([pid for pid in pids if pid not in dead])
    if dead:
        log.warning("database.stale_handles_removed", pids=dead, data_dir=str(data_dir))
    return dead


def postmaster_alive(data_dir: Path) -> bool:
    """Whether the postmaster named in `postmaster.pid` runs (a stale file does not count)."""
    return postmaster_pid(data_dir) is not None


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid of the postmaster named in `postmaster.pid` while it runs (None for a stale file)."""
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir.expanduser().resolve())
    return info.pid if info is not None and info.is_running() else None


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
        except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
            # Another daemon created it meanwhile: PostgreSQL says so as a duplicate database, or,
            # when both inserts into pg_database overlapped, as a unique violation on its name index.
            return False
        return True
    finally:
        await conn.close()


async def create_pool(address: ServerAddress, database: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """One pool per butler; JSONB is decoded to Python values on the way in and out.

    Opening it is retried when the first connection times out (bounded, each retry logged): while a
    daemon starts many butlers, or two daemons start at once, its event loop can be busy elsewhere
    for seconds on a loaded machine, and the connect's clock runs on meanwhile. Any other error
    (refused, no such database, bad password) fails at once.
    """
    for attempt, retry_in in enumerate((*POOL_OPEN_RETRIES_S, None), start=1):
        try:
            return await _open_pool(address, database, min_size=min_size, max_size=max_size)
        except TimeoutError as exc:
            if retry_in is None:
                raise DatabaseError(f"cannot open a pool on database {database}: {describe(exc)}") from exc
            log.warning("database.pool_open_retry", database=database, attempt=attempt, retry_in_s=retry_in)
            await anyio.sleep(retry_in)
        except (OSError, asyncpg.PostgresError) as exc:
            raise DatabaseError(f"cannot open a pool on database {database}: {describe(exc)}") from exc
    raise AssertionError("unreachable")  # the last attempt returns or raises


async def open_database_pool(address: ServerAddress, database: str, *, max_size: int) -> asyncpg.Pool:
    """A pool on `database`, created first when it does not exist yet (a butler's first start).

    An existing database, every later start, costs no connection to the server's `postgres`
    database for `ensure_database`: one fewer connection per butler when 50 start at once.
    """
    try:
        return await create_pool(address, database, max_size=max_size)
    except DatabaseError as exc:
        if not isinstance(exc.__cause__, asyncpg.InvalidCatalogNameError):
            raise
    await ensure_database(address, database)
    return await create_pool(address, database, max_size=max_size)


async def _open_pool(address: ServerAddress, database: str, *, min_size: int, max_size: int) -> asyncpg.Pool:
    # Bounded connects and statements: a lost or half-open server fails a call instead of hanging it.
    pool = await asyncpg.create_pool(
        database=database,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        timeout=CONNECT_TIMEOUT_S,
        command_timeout=COMMAND_TIMEOUT_S,
        server_settings={"statement_timeout": f"{int(STATEMENT_TIMEOUT_S * 1000)}"},
        **address.connect_kwargs(),
    )
    assert pool is not None
    return pool


async def _keep_session(conn: asyncpg.Connection) -> None:
    """On release, after asyncpg has cleared the listeners and rolled back an open transaction.

    asyncpg's default reset adds a round trip to every release (`RESET ALL`, `UNLISTEN *`, advisory
    unlocks, `CLOSE ALL`) for session state this project never leaves on a pool connection: no
    `SET`, no session advisory lock, no cursor outside a transaction, and the one `LISTEN` (the
    spawner's) is removed before its connection goes back.
    """


async def _init_connection(conn: asyncpg.Connection) -> None:
    import json

    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
