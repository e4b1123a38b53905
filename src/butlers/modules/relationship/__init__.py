"""The `relationship` module: a personal CRM (contacts, interactions, dates, gifts, loans, vCard).

Enable it with

    [modules.relationship]
    carddav_url = "https://cloud.example.org/remote.php/dav/addressbooks/users/me/contacts/"  # optional
    carddav_username = "me"                                                                 # optional
    carddav_password_env = "CARDDAV_PASSWORD"                                               # optional

Tools live in contact_tools.py, activity_tools.py, date_tools.py and vcard_tools.py; this file
only wires them. Docs: docs/relationship.md.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from butlers.modules.base import Module, ModuleContext

from .activity_tools import ActivityTools
from .contact_tools import ContactTools
from .date_tools import DateTools
from .vcard_tools import CardDavSettings, VCardTools

if TYPE_CHECKING:
    from fastmcp import FastMCP


class RelationshipConfig(BaseModel):
    """`[modules.relationship]` of butler.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    carddav_url: str | None = Field(default=None, description="Default address book for relationship_carddav_import.")
    carddav_username: str | None = None
    carddav_password_env: str = Field(
        default="CARDDAV_PASSWORD", description="The environment variable holding the CardDAV password."
    )

    @field_validator("carddav_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("carddav_password_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", value):
            raise ValueError("must be an environment variable name such as CARDDAV_PASSWORD")
        return value


class RelationshipModule(Module[RelationshipConfig]):
    """Contacts and keeping in touch."""

    name = "relationship"
    config_schema = RelationshipConfig
    migrations_dir = Path(__file__).parent / "migrations"

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        carddav = CardDavSettings(
            url=self.config.carddav_url,
            username=self.config.carddav_username,
            password_env=self.config.carddav_password_env,
        )
        groups = (
            ContactTools(ctx.pool),
            ActivityTools(ctx.pool),
            DateTools(ctx.pool, ctx.notify),
            VCardTools(ctx.pool, carddav),
        )
        for group in groups:
            for tool in group.tools():
                mcp.tool(tool, name=tool.__name__)
