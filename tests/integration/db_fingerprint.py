"""An exact fingerprint of a butler's database, to show that a call answered with an error wrote nothing.

Per table of the butler's schema: the row count and an md5 over every row's text, rows ordered by
that text, so any insert, update or delete (committed by anyone) changes it. All tables in one
query, one round trip: a few milliseconds on the fuzz suites' small tables. `NoPartialWrite` takes
one before each call (or reuses the one taken after the last refused call: nothing was written
since) and one after each call answered with an error, and records every difference. After a call
that succeeded it first waits until the work that call may have started is done (a session, a routed
message, a pending notification), so that work is not blamed on the next call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TypeVar

import psycopg2
from psycopg2 import sql

from butlers.db import ServerAddress, database_name

Fingerprint = dict[str, tuple[int, str]]
T = TypeVar("T")
POLL_S = 0.02

# Rows of work in flight, by table: each will still change with no call (see wait_until_idle).
IN_FLIGHT: Mapping[str, str] = {
    "sessions": "status IN ('queued', 'running')",
    "inbound_messages": "status IN ('received', 'dispatched')",  # the switchboard follows its sessions
    "notifications": "status = 'pending'",
}

# Tables whose rows change without any call, excluded by name: comparing them would blame a call
# for work it did not do.
NOT_FINGERPRINTED: Mapping[str, str] = {
    # The daemon's liveness row: heartbeat_at is refreshed every few seconds by a timer task.
    "daemon_instances": "refreshed by the daemon's own timer",
}


class DatabaseFingerprint:
    """A synchronous connection to one butler's database that fingerprints its tables."""

    def __init__(self, address: ServerAddress, butler: str) -> None:
        self.conn = psycopg2.connect(dbname=database_name(butler), **address.connect_kwargs())
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
            )
            self.tables = [row[0] for row in cur.fetchall() if row[0] not in NOT_FINGERPRINTED]
        assert self.tables, f"no tables in the database of {butler}"
        self.query = sql.SQL(" UNION ALL ").join(
            sql.SQL(
                "SELECT {name}, count(*), md5(coalesce(string_agg(t::text, chr(10) ORDER BY t::text), '')) FROM {table} t"
            ).format(name=sql.Literal(table), table=sql.Identifier(table))
            for table in self.tables
        )
        with self.conn.cursor() as cur:  # planned once: the query runs thousands of times
            cur.execute(sql.SQL("PREPARE butlers_fingerprint AS {}").format(self.query))
        self.in_flight = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {name}, count(*) FROM {table} WHERE " + where).format(
                name=sql.Literal(table), table=sql.Identifier(table)
            )
            for table, where in IN_FLIGHT.items()
            if table in self.tables
        )

    def take(self) -> Fingerprint:
        with self.conn.cursor() as cur:
            cur.execute("EXECUTE butlers_fingerprint")
            return {name: (count, digest) for name, count, digest in cur.fetchall()}

    def wait_until_idle(self, timeout_s: float = 60.0) -> None:
        """Work an earlier call started (a session; a routed message following its session) writes as
        it runs, with no call: wait until there is none in flight, so no call is blamed for it."""
        deadline = time.monotonic() + timeout_s
        with self.conn.cursor() as cur:
            while True:
                cur.execute(self.in_flight)
                busy = [name for name, count in cur.fetchall() if count]
                if not busy:
                    return
                assert time.monotonic() < deadline, f"work still in flight after {timeout_s} s: {busy}"
                time.sleep(POLL_S)  # polling the condition above, within the deadline

    def close(self) -> None:
        self.conn.close()


def changed_tables(before: Fingerprint, after: Fingerprint) -> list[str]:
    return sorted(t for t in before.keys() | after.keys() if before.get(t) != after.get(t))


class NoPartialWrite:
    """Wraps calls: one answered with an error must leave every fingerprinted table as it was."""

    def __init__(self, fingerprint: DatabaseFingerprint, settled: Callable[[], None] = lambda: None) -> None:
        self.fingerprint = fingerprint
        self.settled = settled  # waits until work started by earlier calls is done (e.g. sessions)
        self.failures: list[str] = []
        self.checked = 0  # calls answered with an error, fingerprinted before and after
        self.taken = 0
        self.seconds = 0.0  # spent fingerprinting
        self.waited = 0.0  # spent waiting for work in flight
        self._before: Fingerprint | None = None

    def around(self, call: Callable[[], T], refused: Callable[[T], bool], what: str) -> T:
        if self._before is None:
            started = time.perf_counter()
            self.settled()
            self.waited += time.perf_counter() - started
            self._before = self._take()
        answer = call()
        if not refused(answer):
            self._before = None  # a result may write, and may start work that writes later
            return answer
        after = self._take()
        self.checked += 1
        if after != self._before:
            self.failures.append(f"partial write to {changed_tables(self._before, after)} by {what[:300]}")
        self._before = after
        return answer

    def take_failures(self) -> list[str]:
        failures, self.failures = self.failures, []
        return failures

    def _take(self) -> Fingerprint:
        started = time.perf_counter()
        try:
            return self.fingerprint.take()
        finally:
            self.taken += 1
            self.seconds += time.perf_counter() - started
