"""The dashboard's LISTEN connections open with the first page that subscribes, not at the daemon's start."""

from __future__ import annotations

from pathlib import Path

import httpx
from dashboard_helpers import dashboard_daemon, wait_until

from butlers.db import ServerAddress

WAIT_S = 30
LISTENERS = "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN %%butlers_events%%'"


def test_nobody_watching_holds_no_listen_connection_and_the_first_page_gets_them_and_a_resync(
    tmp_path: Path, pg_address: ServerAddress
) -> None:
    with dashboard_daemon(tmp_path, pg_address) as daemon:
        dashboard = daemon.supervisor.dashboard
        assert dashboard is not None
        hub = dashboard.hub
        assert hub.listening == set()
        assert daemon.sql("alpha", LISTENERS)[0]["n"] == 0
        auth = {"Authorization": f"Bearer {daemon.token}"}
        with (
            httpx.Client(base_url=daemon.url, headers=auth, timeout=WAIT_S) as http,
            http.stream("GET", "/events", params={"seen": str(hub.published)}) as stream,
        ):
            assert stream.status_code == 200
            lines = stream.iter_lines()
            assert next(lines) == ": connected"
            wait_until(lambda: hub.listening == set(daemon.names.values()), WAIT_S)
            assert daemon.sql("alpha", LISTENERS)[0]["n"] == 1
            # Each listener, once up, tells the open pages to re-fetch what they show.
            assert "event: resync" in {next(lines) for _ in range(4)}
