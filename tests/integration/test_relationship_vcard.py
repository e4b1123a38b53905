"""vCard import and export, and CardDAV import from a real Radicale, over real MCP HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from relationship_helpers import RunningRelationship, running_relationship

from butlers.testing.caldav_server import RadicaleServer
from butlers.testing.postgres import TestPostgres

FIXTURE = Path(__file__).parents[1] / "fixtures" / "relationship" / "address-book.vcf"
USER, PASSWORD = "alice", "s3cret-dav"
MKCOL = b"""<?xml version="1.0" encoding="utf-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>
<D:resourcetype><D:collection/><C:addressbook/></D:resourcetype><D:displayname>Contacts</D:displayname>
</D:prop></D:set></D:mkcol>"""


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    server = RadicaleServer(tmp_path_factory.mktemp("radicale"), username=USER, password=PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def rel(
    pg: TestPostgres, tmp_path_factory: pytest.TempPathFactory, radicale: RadicaleServer
) -> Iterator[RunningRelationship]:
    book = f"{radicale.url}{USER}/contacts/"
    toml = f'carddav_url = "{book}"\ncarddav_username = "{USER}"\ncarddav_password_env = "BUTLERS_TEST_CARDDAV_PW"\n'
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BUTLERS_TEST_CARDDAV_PW", PASSWORD)
        with running_relationship(pg, tmp_path_factory.mktemp("rel") / "relationship", toml) as running:
            yield running


async def test_a_vcard_exported_by_address_books_imports_correctly(rel: RunningRelationship) -> None:
    report = await rel.call("relationship_vcard_import", vcard=FIXTURE.read_text())
    assert (report["created"], report["skipped"]) == (3, [])
    zoe, marcus, ingrid = [await rel.call("relationship_contact_get", id=i) for i in report["contact_ids"]]

    assert (zoe["display_name"], zoe["first_name"], zoe["last_name"]) == ("Zoë Lefèvre", "Zoë", "Lefèvre")
    assert zoe["nicknames"] == ["Zozo"] and zoe["company"] == "Atelier Lumière" and zoe["job_title"] == "Designer"
    assert zoe["notes"] == "Met at Sophie's wedding.\nLoves jazz." and zoe["labels"] == ["friends"]
    assert zoe["vcard_uid"] == "8F2B3C1D-4E5F-4A6B-9C7D-0E1F2A3B4C5D"
    assert [(d["kind"], d["label"], d["value"]) for d in zoe["details"]] == [
        ("email", "other", "zoe.lefevre@icloud.example"),
        ("email", "work", "zoe@atelier.example"),
        ("phone", "cell", "+33 6 98 76 54 32"),
        ("address", "home", "12 Rue des Lilas, Lyon, 69003, France"),
    ]
    assert zoe["dates"][0]["text"] == "--08-21"  # Apple's year-less birthday
    assert marcus["dates"][0]["text"] == "1987-11-02" and marcus["labels"] == ["mycontacts", "running club"]
    assert ("url", "https://marcus.example") in [(d["kind"], d["value"]) for d in marcus["details"]]
    assert ingrid["dates"][0]["text"] == "--02-29"
    assert ("phone", "+45-31-22-44-55") in [(d["kind"], d["value"]) for d in ingrid["details"]]
    assert (await rel.call("relationship_contact_find", query="zoe lefevre"))[0]["id"] == zoe["id"]

    again = await rel.call("relationship_vcard_import", vcard=FIXTURE.read_text())
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert again["contact_ids"] == report["contact_ids"]


@pytest.mark.parametrize("version", ["3.0", "4.0"])
async def test_vcard_round_trip_in_both_versions(rel: RunningRelationship, version: str) -> None:
    made = await rel.call(
        "relationship_contact_create", display_name=f"Round Trip {version}", first_name="Round", last_name="Trip",
        nicknames=["RT"], emails=[f"rt{version}@example.com"], phones=[f"+44 20 7946 000{version[0]}"],
        addresses=["1 Road, London"], birthday="--12-31", labels=["test"], company="Loop Ltd", notes="a, b; c",
    )  # fmt: skip
    exported = await rel.call("relationship_vcard_export", contact_ids=[made["id"]], version=version)
    assert f"VERSION:{version}" in exported["vcard"] and exported["count"] == 1
    # Into a fresh contact: archive-free copy under a new UID, so the import cannot match the original.
    text = exported["vcard"].replace(f"butlers-relationship-{made['id']}", f"copy-{version}")
    text = text.replace(f"rt{version}@example.com", f"copy{version}@example.com").replace(
        "+44 20 7946 000", "+1 555 010"
    )
    copy_id = (await rel.call("relationship_vcard_import", vcard=text))["contact_ids"][0]
    assert copy_id != made["id"]
    copy = await rel.call("relationship_contact_get", id=copy_id)
    for key in ("display_name", "first_name", "last_name", "nicknames", "company", "notes", "labels"):
        assert copy[key] == made[key], key
    assert [d["text"] for d in copy["dates"]] == ["--12-31"]
    assert [d["value"] for d in copy["details"] if d["kind"] == "address"] == ["1 Road, London"]


async def test_carddav_import_twice_creates_no_duplicates(rel: RunningRelationship, radicale: RadicaleServer) -> None:
    book = f"{radicale.url}{USER}/contacts/"
    auth = (USER, PASSWORD)
    async with httpx.AsyncClient(auth=auth) as dav:
        assert (await dav.request("MKCOL", book, content=MKCOL)).status_code == 201
        cards = FIXTURE.read_text().replace("FN:Marcus", "UID:marcus-google-1\r\nFN:Marcus").split("END:VCARD")
        for number, card in enumerate(c for c in cards if "BEGIN:VCARD" in c):
            put = await dav.put(f"{book}card{number}.vcf", content=card.strip() + "\r\nEND:VCARD\r\n",
                                headers={"Content-Type": "text/vcard"})  # fmt: skip
            assert put.status_code == 201, put.text
    before = await rel.fetchval("SELECT count(*) FROM relationship_contacts")
    first = await rel.call("relationship_carddav_import")
    assert first["created"] + first["updated"] + first["unchanged"] == 3 and first["skipped"] == []
    after_first = await rel.fetchval("SELECT count(*) FROM relationship_contacts")
    second = await rel.call("relationship_carddav_import")
    assert (second["created"], second["updated"]) == (0, 0) and second["unchanged"] == 3
    assert await rel.fetchval("SELECT count(*) FROM relationship_contacts") == after_first
    assert after_first - before == first["created"]
    assert await rel.fetchval("SELECT count(*) FROM relationship_contacts WHERE display_name = 'Ingrid Sørensen'") == 1


async def test_bad_vcard_and_carddav_input_writes_nothing(rel: RunningRelationship, radicale: RadicaleServer) -> None:
    before = await rel.fetchval("SELECT count(*) FROM relationship_contacts")
    assert "argument 'vcard'" in await rel.refused("relationship_vcard_import", vcard="hello")
    bad_card = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bad Date\r\nBDAY:1990-13-45\r\nEND:VCARD\r\n"
    report = await rel.call("relationship_vcard_import", vcard=bad_card)
    assert report["created"] == 0 and "BDAY" in report["skipped"][0]
    assert "argument 'url'" in await rel.refused("relationship_carddav_import", url="ftp://x")
    refused = await rel.refused("relationship_carddav_import", url=f"{radicale.url}{USER}/missing/")
    assert "relationship_carddav_import" in refused and "argument 'url'" in refused
    wrong = await rel.refused("relationship_carddav_import", username="mallory")
    assert "401" in wrong and PASSWORD not in wrong
    assert "contact_ids" in await rel.refused("relationship_vcard_export", contact_ids=[999999])
    assert "version" in await rel.refused("relationship_vcard_export", version="2.1")
    assert await rel.fetchval("SELECT count(*) FROM relationship_contacts") == before
