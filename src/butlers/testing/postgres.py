"""An embedded PostgreSQL for tests: one server per test session, a fresh database per test.

Usable from any project's conftest.py:

    from butlers.testing.postgres import TestPostgres

`TestPostgres(folder, durable=False)` turns fsync off: much faster database drops, for a
server whose data need not survive a machine crash (this repo's test suite; not its benches).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2

from butlers.db import ServerAddress
from butlers.migrate import apply_migrations_sync, core_migrations_dir


class TestPostgres:
    """Owns one embedded server; hands out fresh databases with the core schema."""

    __test__ = False  # not a pytest test class

    TEMPLATE = "butlers_test_template"

    def __init__(self, data_dir: Path, *, durable: bool = True) -> None:
        import pgserver

        self._server = pgserver.get_server(data_dir, cleanup_mode="delete")
        self.address = ServerAddress.from_uri(self._server.get_uri())
        self._template_ready = False
        if not durable:
            self._skip_fsync()

    def _skip_fsync(self) -> None:
        # A test server's data dies with the test run, so it need not survive a machine crash:
        # without fsync, DROP DATABASE (a checkpoint) takes milliseconds instead of seconds on a
        # busy disk. A crash of PostgreSQL itself still loses nothing (the OS has the writes).
        conn = self._admin()
        try:
            cur = conn.cursor()
            for setting in ("fsync", "full_page_writes", "synchronous_commit"):
                cur.execute(f"ALTER SYSTEM SET {setting} = off")
            cur.execute("SELECT pg_reload_conf()")
        finally:
            conn.close()

    def _admin(self) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(self.address.dsn("postgres"))
        conn.autocommit = True
        return conn

    def create_database(self, *, migrated: bool = True) -> str:
        """A new empty database (with the core migrations applied unless told not to)."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        if migrated:
            self._ensure_template()
        template = self.TEMPLATE if migrated else "template0"
        conn = self._admin()
        try:
            conn.cursor().execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            conn.close()
        return name

    def drop_database(self, name: str) -> None:
        conn = self._admin()
        try:
            conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            conn.close()

    def _ensure_template(self) -> None:
        # Migrating once into a template and cloning it is much faster than
        # running yoyo for every test.
        if self._template_ready:
            return
        conn = self._admin()
        try:
            cur = conn.cursor()
            cur.execute(f'DROP DATABASE IF EXISTS "{self.TEMPLATE}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{self.TEMPLATE}"')
        finally:
            conn.close()
        apply_migrations_sync(self.address, self.TEMPLATE, core_migrations_dir(), "core")
        self._template_ready = True

    @contextmanager
    def database(self, *, migrated: bool = True) -> Iterator[str]:
        name = self.create_database(migrated=migrated)
        try:
            yield name
        finally:
            self.drop_database(name)

    def stop(self) -> None:
        self._server.cleanup()
