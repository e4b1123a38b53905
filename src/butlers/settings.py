"""Global settings, read from the environment (pydantic-settings).

The seed's variables keep their names (`POSTGRES_*`, `OTEL_EXPORTER_OTLP_ENDPOINT`);
the project's own carry the `BUTLERS_` prefix.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from butlers.credentials import load_systemd_credentials
from butlers.errors import ConfigError


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/butlers`, or `~/.local/share/butlers`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "butlers"


class Settings(BaseSettings):
    """Settings shared by every butler in one daemon."""

    model_config = SettingsConfigDict(env_prefix="BUTLERS_", extra="ignore")

    dir: Path = Field(default=Path("butlers.d"), description="Folder holding one sub-folder per butler.")
    data_dir: Path = Field(
        default_factory=default_data_dir, description="Where the embedded database and agent homes live."
    )
    host: str = Field(default="127.0.0.1", description="Address every butler's MCP server binds to.")
    token: SecretStr | None = Field(
        default=None,
        description="The operator token. Else the systemd credential `butlers-token`, else generated at first start.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Extra names a client may use in the `Host` header (e.g. behind a reverse proxy).",
    )
    allowed_origins: list[str] = Field(
        default_factory=list, description="Extra browser origins (scheme://host:port) trusted besides the daemon's own."
    )
    max_connections: int = Field(
        default=256, ge=1, description="Open HTTP connections per port; more are closed at once."
    )
    max_sessions: int = Field(default=200, ge=1, description="Stateful MCP sessions per port.")
    session_idle_timeout_s: float = Field(
        default=300.0, gt=0, description="Seconds an idle MCP session is kept before it is closed."
    )
    idle_connection_timeout_s: float = Field(
        default=15.0, gt=0, description="Seconds a connection may stay silent (before or between requests)."
    )
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Largest HTTP request body accepted, in bytes."
    )
    heartbeat_interval_s: float = Field(
        default=600.0, gt=0, description="Seconds between heartbeat ticks of every butler."
    )
    drain_timeout_s: float = Field(default=30.0, ge=0, description="Seconds shutdown waits for in-flight work.")
    log_format: Literal["auto", "console", "json"] = Field(default="auto", description="Log rendering.")
    log_level: str = Field(default="info", description="Minimum log level.")
    monthly_spend_ceiling_usd: float | None = Field(
        default=None,
        gt=0,
        description="Fleet-wide monthly spend ceiling in USD: once this calendar month's recorded session cost"
        " across every butler reaches it, new sessions of every butler are refused. Unset: no ceiling.",
    )
    pg_max_connections: int | None = Field(
        default=None,
        ge=20,
        description="max_connections of the embedded PostgreSQL; default: what every butler's pool needs.",
    )
    start_concurrency: int = Field(
        default=8,
        ge=1,
        le=1000,
        description="Butlers starting at once (database, migrations, MCP app); the others wait their turn.",
    )

    dashboard_enabled: bool = Field(default=True, description="Serve the dashboard (web pages and JSON API).")
    dashboard_host: str = Field(
        default="127.0.0.1", description="Address the dashboard binds to; beyond loopback it needs BUTLERS_TOKEN."
    )
    dashboard_port: int = Field(default=8200, ge=1, le=65535, description="Port of the dashboard.")

    postgres_host: str | None = Field(default=None, validation_alias=AliasChoices("POSTGRES_HOST"))
    postgres_port: int = Field(default=5432, validation_alias=AliasChoices("POSTGRES_PORT"))
    postgres_user: str = Field(default="postgres", validation_alias=AliasChoices("POSTGRES_USER"))
    postgres_password: str = Field(default="postgres", validation_alias=AliasChoices("POSTGRES_PASSWORD"))
    otel_endpoint: str | None = Field(default=None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT"))
    otel_traces_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )

    @property
    def otlp_traces_endpoint(self) -> str | None:
        """Where spans are posted, as the OpenTelemetry specification says.

        `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is used as it is; the generic
        `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL that gets `/v1/traces` appended.
        """
        if self.otel_traces_endpoint:
            return self.otel_traces_endpoint
        if self.otel_endpoint:
            return self.otel_endpoint.rstrip("/") + "/v1/traces"
        return None

    @property
    def embedded_postgres(self) -> bool:
        """True when no `POSTGRES_HOST` is given: the daemon runs its own server."""
        return not self.postgres_host


def environment_variable(field: str) -> str:
    """The environment variable that sets a Settings field (`heartbeat_interval_s` -> `BUTLERS_HEARTBEAT_INTERVAL_S`)."""
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"{Settings.model_config.get('env_prefix', '')}{field}".upper()


def load_settings(**overrides: object) -> Settings:
    """The settings from the environment (with systemd credentials loaded into it first); a bad
    value is a ConfigError naming the variable, not a traceback."""
    load_systemd_credentials()
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            variable = environment_variable(str(error["loc"][0]) if error["loc"] else "")
            value = error.get("input")
            what = "is empty" if value == "" else f"has {value!r}"
            problems.append(f"{variable} {what}: {error['msg']}")
        raise ConfigError("invalid environment setting: " + "; ".join(problems)) from None
