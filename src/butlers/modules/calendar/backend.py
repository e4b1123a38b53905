"""The servers: CalDAV (the sync `caldav` library, run in worker threads) and read-only ICS feeds."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import anyio
import httpx
import icalendar
from caldav.collection import Calendar as DavCalendar
from caldav.collection import CalendarSet
from caldav.davclient import DAVClient
from caldav.lib import error as caldav_error

#: The display name of the calendar `create_if_missing` makes when `calendar` is not set.
DEFAULT_NAME = "Calendar"


class CalendarUnavailable(Exception):
    """The CalDAV server cannot be reached or refused us; the message says why."""


class EventNotFound(Exception):
    """No event with that UID in the calendar."""


class CalDAVStore:
    """One calendar on one CalDAV server. Every public method is async; I/O runs in a worker thread."""

    def __init__(
        self,
        url: str,
        username: str | None,
        password: str | None,
        calendar: str | None,
        timeout: float,
        *,
        create_if_missing: bool = False,
    ) -> None:
        self.url = url
        self.username = username
        self.password = password if username else None
        self.calendar_spec = calendar
        self.timeout = timeout
        # Make the calendar (MKCALENDAR) when it is not there, instead of reporting it missing.
        self.create_if_missing = create_if_missing
        self._client: DAVClient | None = None
        self._calendar: DavCalendar | None = None
        self._lock = threading.Lock()  # one request at a time on the shared client

    def _new_client(self) -> DAVClient:
        return DAVClient(
            url=self.url,
            username=self.username,
            password=self.password,
            timeout=int(self.timeout),
            enable_rfc6764=False,
        )

    def _resolve(self) -> DavCalendar:
        if self._calendar is not None:
            return self._calendar
        if self._client is None:
            self._client = self._new_client()
        spec = self.calendar_spec
        if spec is not None and (spec.startswith("/") or urlsplit(spec).scheme in ("http", "https")):
            calendar = self._by_path(self._client, urljoin(self.url, spec))
        else:
            calendar = self._by_name(self._client, spec)
        self._calendar = calendar
        return calendar

    def _by_path(self, client: DAVClient, url: str) -> DavCalendar:
        calendar = client.calendar(url=url)
        try:
            calendar.get_properties()  # fails when it does not exist
        except caldav_error.NotFoundError:
            if not self.create_if_missing:
                raise CalendarUnavailable(
                    f"the calendar {url} does not exist on the CalDAV server (404): create it there, or set "
                    f"create_if_missing = true under [modules.calendar] in butler.toml"
                ) from None
            parent, _, cal_id = url.rstrip("/").rpartition("/")
            calendar = CalendarSet(client=client, url=parent + "/").make_calendar(name=cal_id, cal_id=cal_id)
        return calendar

    def _by_name(self, client: DAVClient, spec: str | None) -> DavCalendar:
        principal = client.principal()
        calendars = principal.calendars()
        if spec is None:
            if calendars:
                return calendars[0]
            if self.create_if_missing:
                return principal.make_calendar(name=DEFAULT_NAME)
            raise CalendarUnavailable(
                f"no calendar found for this account on {self.url}: create one there, or set "
                f"create_if_missing = true under [modules.calendar] in butler.toml (makes '{DEFAULT_NAME}')"
            )
        named = [c for c in calendars if c.get_display_name() == spec]
        if named:
            return named[0]
        if self.create_if_missing:
            return principal.make_calendar(name=spec)
        names = [c.get_display_name() for c in calendars]
        raise CalendarUnavailable(
            f"no calendar named {spec!r} on {self.url} (found {names}): create it there, or set "
            f"create_if_missing = true under [modules.calendar] in butler.toml"
        )

    def _call(self, fn: Any, *args: Any) -> Any:
        with self._lock:
            try:
                return fn(self._resolve(), *args)
            except (CalendarUnavailable, EventNotFound):
                raise
            except caldav_error.NotFoundError as exc:
                raise EventNotFound(str(exc)) from None
            except (caldav_error.DAVError, OSError) as exc:
                self._calendar = None  # resolve again next time (the server may have come back elsewhere)
                raise CalendarUnavailable(f"CalDAV server {self.url}: {type(exc).__name__}: {exc}") from None

    async def run(self, fn: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(self._call, fn, *args)

    # --- operations (each runs in a worker thread with the calendar resolved) ---

    async def search(self, begin: Any, finish: Any) -> list[icalendar.Calendar]:
        def op(cal: Any) -> list[icalendar.Calendar]:
            found = cal.search(start=begin, end=finish, event=True, expand=False)
            return [obj.icalendar_instance for obj in found]

        result: list[icalendar.Calendar] = await self.run(op)
        return result

    async def get(self, uid: str) -> icalendar.Calendar:
        def op(cal: Any) -> icalendar.Calendar:
            return cal.event_by_uid(uid).icalendar_instance

        result: icalendar.Calendar = await self.run(op)
        return result

    async def exists(self, uid: str) -> bool:
        try:
            await self.get(uid)
        except EventNotFound:
            return False
        return True

    async def save(self, ical: icalendar.Calendar, *, new: bool) -> None:
        text = ical.to_ical().decode()

        def op(cal: Any) -> None:
            if new:
                cal.save_event(ical=text, no_overwrite=True)
            else:
                uid = str(next(iter(ical.walk("VEVENT")))["UID"])
                obj = cal.event_by_uid(uid)
                obj.data = text
                obj.save(no_create=True)

        await self.run(op)

    async def delete(self, uid: str) -> None:
        def op(cal: Any) -> None:
            cal.event_by_uid(uid).delete()

        await self.run(op)

    async def probe(self) -> dict[str, Any]:
        """Is the server reachable and the calendar there? Uses a fresh client, never blocks on the shared one."""

        def op() -> dict[str, Any]:
            client = self._new_client()
            try:
                if self._calendar is not None:
                    client.propfind(str(self._calendar.url), depth=0)
                    return {"ok": True, "calendar": str(self._calendar.url)}
                spare = CalDAVStore(
                    self.url, self.username, self.password, self.calendar_spec, self.timeout,
                    create_if_missing=self.create_if_missing,
                )  # fmt: skip
                spare._client = client
                calendar = spare._resolve()
                return {"ok": True, "calendar": str(calendar.url)}
            except CalendarUnavailable as exc:
                return {"ok": False, "error": str(exc)}
            except (caldav_error.DAVError, OSError) as exc:
                return {"ok": False, "error": f"CalDAV server {self.url}: {type(exc).__name__}: {exc}"}

        result: dict[str, Any] = await anyio.to_thread.run_sync(op)
        return result


async def load_ics(source: str, directory: Path, timeout: float) -> icalendar.Calendar:
    """Read one ICS feed: an http(s) URL, a file:// URL or a path (relative to `directory`)."""
    if source.startswith(("http://", "https://")):
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as http:
            response = await http.get(source)
            response.raise_for_status()
            data = response.content
    else:
        path = Path(source.removeprefix("file://"))
        if not path.is_absolute():
            path = directory / path
        data = await anyio.Path(path).read_bytes()
    return icalendar.Calendar.from_ical(data)
