"""Small parts of the dashboard: settings, the bind rule, parameters, events, the page registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.requests import Request

from butlers.auth import AuthError
from butlers.dashboard import params
from butlers.dashboard.events import Event, EventHub, parse
from butlers.dashboard.nav import NAV
from butlers.dashboard.pages import PAGES, page_routes
from butlers.dashboard.queries.sessions import SessionFilter, cursor, parse_cursor
from butlers.dashboard.service import DashboardService
from butlers.settings import Settings


def request(query: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query.encode(), "headers": []})


def test_the_dashboard_is_on_by_default_on_loopback_port_8200(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUTLERS_DASHBOARD_ENABLED", raising=False)
    s = Settings()
    assert (s.dashboard_enabled, s.dashboard_host, s.dashboard_port) == (True, "127.0.0.1", 8200)
    monkeypatch.setenv("BUTLERS_DASHBOARD_ENABLED", "false")
    monkeypatch.setenv("BUTLERS_DASHBOARD_PORT", "8300")
    assert (Settings().dashboard_enabled, Settings().dashboard_port) == (False, 8300)


async def test_beyond_loopback_without_an_explicit_token_the_dashboard_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BUTLERS_TOKEN", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    settings = Settings(data_dir=tmp_path, dashboard_host="0.0.0.0", dashboard_port=1)

    class NoFleet:
        butlers: dict = {}  # noqa: RUF012 - a stand-in for the supervisor's attributes
        failures: dict = {}  # noqa: RUF012

    with pytest.raises(AuthError, match=r"dashboard: refusing to listen on 0\.0\.0\.0"):
        await DashboardService(settings, NoFleet()).run()


def test_bad_parameters_name_themselves() -> None:
    with pytest.raises(params.BadParameterError, match=r"^status: 'x' is not one of a, b$"):
        params.choice(request("status=x"), "status", ["a", "b"])
    with pytest.raises(params.BadParameterError, match=r"^limit: must be between 1 and 5$"):
        params.integer(request("limit=9"), "limit", default=1, low=1, high=5)
    with pytest.raises(params.BadParameterError, match=r"^day: "):
        params.day(request("day=31-12-2026"), "day")
    with pytest.raises(params.BadParameterError, match=r"^session_id: "):
        params.identifier("nope", "session_id")
    assert params.text(request("schedule="), "schedule") is None


def test_a_page_cursor_survives_the_round_trip_through_a_link() -> None:
    from datetime import UTC, datetime
    from uuid import uuid4

    row = {"queued_at": datetime(2026, 11, 29, 18, 0, 1, 5, tzinfo=UTC), "id": uuid4()}
    link = SessionFilter(butler="alpha", limit=4).query_string(before=cursor(row))
    assert "%2B00%3A00" in link and "limit=4" in link
    from urllib.parse import parse_qs

    assert parse_cursor(parse_qs(link)["before"][0]) == (row["queued_at"], row["id"])
    with pytest.raises(params.BadParameterError, match=r"^before: "):
        parse_cursor("yesterday_x")


def test_notify_payloads_become_events_and_unknown_ones_are_dropped() -> None:
    event = parse("alpha", '{"kind": "session", "id": "1", "status": "running", "op": "update"}')
    assert event == Event("session", "alpha", {"id": "1", "status": "running", "op": "update"})
    assert parse("alpha", '{"kind": "other"}') is None
    assert parse("alpha", "not json") is None


async def test_a_browser_that_lags_is_dropped_not_waited_for() -> None:
    hub = EventHub()
    async with hub.subscribe() as slow, hub.subscribe() as quick:
        for i in range(300):
            hub.publish(Event("session", "alpha", {"i": i}))
            assert (await quick.receive()).data == {"i": i}  # this one keeps up
        assert hub.subscribers == 1  # the slow one's queue filled up: it was let go
        assert (await slow.receive()).data == {"i": 0}  # what it had queued is still readable


def test_every_page_module_declares_routes_and_the_nav_covers_issue_13() -> None:
    assert all(getattr(module, "ROUTES", None) for module in PAGES)
    paths = {getattr(r, "path", "") for r in page_routes()}
    assert {"/", "/api/overview", "/sessions", "/api/sessions", "/approvals", "/api/approvals"} <= paths
    assert [title for title, _ in NAV] == [
        "Overview", "Butlers", "Sessions", "Spend", "Approvals", "Messages", "Notifications", "Contacts", "Health",
    ]  # fmt: skip


async def test_a_dashboard_that_cannot_start_is_contained_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from butlers.supervisor import Supervisor

    monkeypatch.delenv("BUTLERS_TOKEN", raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(data_dir=tmp_path, dashboard_port=port)
        supervisor = Supervisor(settings, [])
        service = DashboardService(settings, supervisor)
        await supervisor._run_dashboard(service)  # returns: the error stays inside the boundary
    assert service.error is not None and f"127.0.0.1:{port}" in service.error
    assert not service.ready.is_set()
