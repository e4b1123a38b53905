"""The `calendar` module: a CalDAV calendar (read and write) plus read-only ICS feeds.

    [modules.calendar]
    url = "https://dav.example.com/"      # CalDAV server; password in CALDAV_PASSWORD
    username = "alice"
    calendar = "Personal"                 # display name or URL path; default the first calendar
    ics_sources = ["https://example.com/holidays.ics", "team.ics"]
    timezone = "Europe/Paris"             # default the host's
    require_approval = ["calendar_create_event", "calendar_delete_event"]

See docs/modules/calendar.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from butlers.modules.base import Module, ModuleContext
from butlers.modules.calendar.backend import CalDAVStore
from butlers.modules.calendar.config import OUTBOUND_TOOLS, CalendarConfig
from butlers.modules.calendar.tools import CalendarTools

if TYPE_CHECKING:
    from fastmcp import FastMCP

__all__ = ["CalendarConfig", "CalendarModule"]


class CalendarModule(Module[CalendarConfig]):
    """List events (recurrences expanded), create/update/delete them on CalDAV, find free time."""

    name = "calendar"
    config_schema = CalendarConfig
    # Required by the butler; ignored when `username` is not set (a server without auth, or ICS only).
    credentials_env = ("CALDAV_PASSWORD",)

    def __init__(self, config: CalendarConfig) -> None:
        super().__init__(config)
        self.store: CalDAVStore | None = None
        self.ctx: ModuleContext | None = None

    @property
    def cfg(self) -> CalendarConfig:
        return self.config

    async def on_startup(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        cfg = self.cfg
        if cfg.url is not None:
            self.store = CalDAVStore(
                cfg.url,
                cfg.username,
                ctx.credentials.get("CALDAV_PASSWORD"),
                cfg.calendar,
                cfg.timeout_seconds,
                create_if_missing=cfg.create_if_missing,
            )
            # A server that is down at startup is reported by health(), it does not stop the butler.
            state = await self.store.probe()
            if not state["ok"]:
                ctx.log.warning("calendar.unreachable", error=state["error"])

    async def on_shutdown(self, ctx: ModuleContext) -> None:
        self.store = None

    async def health(self) -> dict[str, Any]:
        if self.store is None:
            if self.cfg.url is None:
                return {"ok": True, "caldav": None, "ics_sources": len(self.cfg.ics_sources)}
            return {"ok": False, "error": "not started"}
        return await self.store.probe()

    # -- tools ---------------------------------------------------------------------------------

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        self.ctx = ctx
        CalendarTools(self.cfg, ctx, lambda: self.store).register(mcp)


assert set(OUTBOUND_TOOLS) == {"calendar_create_event", "calendar_update_event", "calendar_delete_event"}
