"""Read every vCard of a CardDAV address book (RFC 6352) in one REPORT request."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import httpx

_DAV = "{DAV:}"
_CARD = "{urn:ietf:params:xml:ns:carddav}"
_QUERY = b"""<?xml version="1.0" encoding="utf-8"?>
<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
  <D:prop><D:getetag/><C:address-data/></D:prop>
</C:addressbook-query>"""


class CardDavError(Exception):
    """The address book could not be read; the message says why, never the password."""


def _shown(url: str) -> str:
    """The URL without any user:password@ part, for messages."""
    return re.sub(r"//[^/@]*@", "//", url)


async def fetch_vcards(url: str, username: str | None, password: str | None, timeout: float = 30.0) -> list[str]:
    auth = httpx.BasicAuth(username, password or "") if username else None
    headers = {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"}
    try:
        async with httpx.AsyncClient(auth=auth, timeout=timeout, follow_redirects=True) as client:
            response = await client.request("REPORT", url, content=_QUERY, headers=headers)
    except httpx.HTTPError as exc:
        raise CardDavError(f"cannot reach {_shown(url)}: {type(exc).__name__}") from None
    if response.status_code != 207:
        raise CardDavError(f"{_shown(url)} answered HTTP {response.status_code} to an addressbook-query (expected 207)")
    try:
        root = ET.fromstring(response.content)
    except ET.ParseError as exc:
        raise CardDavError(f"{_shown(url)} answered with malformed XML: {exc}") from None
    return [(data.text or "") for data in root.iter(f"{_CARD}address-data") if (data.text or "").strip()]
