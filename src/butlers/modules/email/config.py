"""`[modules.email]` of butler.toml: provider presets, explicit hosts, polling, approval."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Security = Literal["tls", "starttls", "none"]
Provider = Literal["gmail", "fastmail", "outlook", "icloud", "custom"]

OUTBOUND_TOOLS = ("email_send", "email_reply", "email_draft")
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    security: Security


# (imap, smtp) of the providers most people use; anything else is provider = "custom".
PRESETS: dict[str, tuple[Endpoint, Endpoint]] = {
    "gmail": (Endpoint("imap.gmail.com", 993, "tls"), Endpoint("smtp.gmail.com", 465, "tls")),
    "fastmail": (Endpoint("imap.fastmail.com", 993, "tls"), Endpoint("smtp.fastmail.com", 465, "tls")),
    "outlook": (Endpoint("outlook.office365.com", 993, "tls"), Endpoint("smtp.office365.com", 587, "starttls")),
    "icloud": (Endpoint("imap.mail.me.com", 993, "tls"), Endpoint("smtp.mail.me.com", 587, "starttls")),
}
IMAP_PORTS: dict[str, int] = {"tls": 993, "starttls": 143, "none": 143}
SMTP_PORTS: dict[str, int] = {"tls": 465, "starttls": 587, "none": 25}

Port = Field(default=None, ge=1, le=65535)


class EmailConfig(BaseModel):
    """`[modules.email]`. The account is `SOURCE_EMAIL` / `SOURCE_EMAIL_PASSWORD` from the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Provider = Field(default="custom", description="A preset of hosts and ports, or 'custom'.")
    imap_host: str | None = Field(default=None, min_length=1, description="IMAP server (overrides the preset).")
    imap_port: int | None = Port
    smtp_host: str | None = Field(default=None, min_length=1, description="SMTP server (overrides the preset).")
    smtp_port: int | None = Port
    security: Security | None = Field(
        default=None,
        description="tls (implicit TLS), starttls, or none (plaintext, localhost only); default: the preset's, else tls.",
    )
    poll_interval_s: float = Field(default=60.0, gt=0, le=86400, description="How often new mail is looked for.")
    idle: bool = Field(default=False, description="Also wait with IMAP IDLE between polls, when the server has it.")
    mailbox: str = Field(default="INBOX", min_length=1, description="The mailbox watched and searched.")
    drafts_mailbox: str = Field(default="Drafts", min_length=1, description="Where email_draft puts drafts.")
    timeout_s: float = Field(default=20.0, gt=0, le=600, description="Network timeout of one IMAP/SMTP step.")
    require_approval: list[str] = Field(
        default_factory=list, description=f"Outbound tools that wait for approval: any of {', '.join(OUTBOUND_TOOLS)}."
    )

    @model_validator(mode="after")
    def _check(self) -> EmailConfig:
        unknown = [t for t in self.require_approval if t not in OUTBOUND_TOOLS]
        if unknown:
            raise ValueError(
                f"require_approval: unknown tool(s) {', '.join(map(repr, unknown))}; outbound tools are "
                + ", ".join(OUTBOUND_TOOLS)
            )
        if self.provider == "custom":
            missing = [k for k in ("imap_host", "smtp_host") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"{' and '.join(missing)} required when provider = 'custom' (or choose a provider)")
        if self.security == "none":
            remote = [
                k
                for k, ep in (("imap_host", self.imap), ("smtp_host", self.smtp))
                if ep.host.lower() not in LOCAL_HOSTS
            ]
            if remote:
                raise ValueError(
                    f"security = 'none' sends the password in clear text and is allowed only for localhost; "
                    f"{' and '.join(remote)} is not local"
                )
        return self

    def _endpoint(self, index: int, host: str | None, port: int | None, ports: dict[str, int]) -> Endpoint:
        preset = PRESETS.get(self.provider)
        base = preset[index] if preset else None
        security: Security = self.security or (base.security if base else "tls")
        if port is None:
            port = base.port if base and (self.security is None or self.security == base.security) else ports[security]
        resolved_host = host or (base.host if base else "")
        return Endpoint(resolved_host, port, security)

    @property
    def imap(self) -> Endpoint:
        return self._endpoint(0, self.imap_host, self.imap_port, IMAP_PORTS)

    @property
    def smtp(self) -> Endpoint:
        return self._endpoint(1, self.smtp_host, self.smtp_port, SMTP_PORTS)
