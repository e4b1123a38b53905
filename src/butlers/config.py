"""butler.toml models, `${VAR}` interpolation and discovery of `butlers.d/*/`.

Every error names the file, the key (dotted, with list indices) and what is
expected, so a user can fix the file without reading code.
"""

from __future__ import annotations

import os
import re
import tomllib
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from croniter import CroniterBadDateError, croniter
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from butlers.errors import ConfigError, ConfigErrors
from butlers.statuses import MisfirePolicy

CONFIG_FILE = "butler.toml"
NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
TOOL_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,127}$"
MAX_SCHEDULE_PROMPT = 100_000  # characters, as for `trigger`
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_timezone(value: str) -> str:
    validate_timezone(value)
    return value


# An IANA zone name, checked when the config is read (butler.toml's and the modules' `timezone` keys).
TimezoneName = Annotated[str, AfterValidator(_known_timezone)]


class ScheduleConfig(_Strict):
    """One `[[butler.schedule]]` entry: a prompt or one of the butler's tools, on a cron expression or once."""

    name: str = Field(pattern=NAME_PATTERN, description="Unique within the butler.")
    cron: str | None = Field(default=None, description="Five-field cron expression, e.g. '0 8 * * *'.")
    at: datetime | None = Field(default=None, description="Fire once at this time (with its UTC offset).")
    prompt: str | None = Field(
        default=None, min_length=1, max_length=MAX_SCHEDULE_PROMPT, description="What the agent is asked to do."
    )
    tool: str | None = Field(
        default=None, pattern=TOOL_PATTERN, description="A tool of this butler, called with `args`: no session."
    )
    args: dict[str, Any] | None = Field(default=None, description="Arguments of `tool`.")
    timezone: TimezoneName | None = Field(default=None, description="IANA zone; default: the host's.")
    enabled: bool = True
    misfire: MisfirePolicy = Field(
        default=MisfirePolicy.COALESCE,
        description="After downtime: 'coalesce' runs once for all missed windows, 'all' runs each one.",
    )

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(f"'{value}' is not a valid five-field cron expression (e.g. '*/30 * * * *')")
        try:  # valid syntax can still name no real day, e.g. '0 0 31 2 *' (31 February)
            croniter(value, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
        except CroniterBadDateError:
            raise ValueError(f"'{value}' never fires: it names no real date") from None
        return value

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError(f"'{value.isoformat()}' has no UTC offset; write it like 2026-05-01T08:00:00+02:00")
        return value

    @model_validator(mode="after")
    def _one_of_each(self) -> ScheduleConfig:
        # Raised as "Value error" of the whole entry; the message names the keys.
        if (self.prompt is None) == (self.tool is None):
            raise ValueError("give exactly one of 'prompt' (an agent session) or 'tool' (a tool call, no session)")
        if (self.cron is None) == (self.at is None):
            raise ValueError("give exactly one of 'cron' (repeating) or 'at' (once)")
        if self.args is not None and self.tool is None:
            raise ValueError("'args' goes with 'tool'")
        return self

    @property
    def mode(self) -> str:
        return "tool" if self.tool is not None else "prompt"


class EnvConfig(_Strict):
    """`[butler.env]`: variables the butler (and its agent) needs."""

    required: list[str] = Field(default_factory=list)
    optional: list[str] = Field(default_factory=list)


class AgentConfig(_Strict):
    """`[butler.agent]`: how Claude Code sessions of this butler run."""

    model: str | None = Field(default=None, description="Model name; default: Claude Code's own.")
    max_turns: int = Field(default=20, ge=1, le=500)
    timeout_s: float = Field(default=600.0, gt=0, description="A session running longer is killed (timed_out).")
    max_concurrency: int = Field(default=1, ge=1, le=32)
    daily_budget_usd: float | None = Field(default=None, gt=0)


class ButlerSection(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    port: int = Field(ge=1, le=65535)
    schedule: list[ScheduleConfig] = Field(default_factory=list)
    env: EnvConfig = Field(default_factory=EnvConfig)
    agent: AgentConfig = Field(default_factory=AgentConfig)


class ButlerFile(_Strict):
    """The whole butler.toml."""

    butler: ButlerSection
    modules: dict[str, dict[str, Any]] = Field(default_factory=dict)


class ButlerConfig(BaseModel):
    """A loaded butler: its butler.toml plus where it came from."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    port: int
    schedules: list[ScheduleConfig]
    env: EnvConfig
    agent: AgentConfig
    modules: dict[str, dict[str, Any]]
    directory: Path

    @property
    def config_file(self) -> Path:
        return self.directory / CONFIG_FILE

    @property
    def system_prompt(self) -> str:
        """CLAUDE.md (and AGENTS.md when present), the agent's system prompt."""
        parts = [
            p.read_text(encoding="utf-8")
            for p in (self.directory / "CLAUDE.md", self.directory / "AGENTS.md")
            if p.is_file()
        ]
        return "\n\n".join(parts)


def validate_timezone(value: str) -> None:
    """A known IANA zone name, or ValueError saying so.

    A folder of the zone database ('America', 'Etc') makes zoneinfo raise
    IsADirectoryError with the install path: caught here as any OSError, so
    no path leaks and the caller sees one plain message.
    """
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        hint = " (a region, not a zone: name a city, e.g. 'America/New_York')" if "/" not in value else ""
        raise ValueError(f"'{value}' is not a known IANA time zone{hint}; e.g. 'Europe/Paris' or 'UTC'") from exc


def interpolate(value: Any, env: Mapping[str, str], file: Path, key: str = "") -> Any:
    """Replace `${VAR}` in every string of a parsed TOML tree; a missing variable is an error."""
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            var = match.group(1)
            if var not in env:
                raise ConfigError(f"environment variable {var} is referenced but not set", file=file, key=key)
            return env[var]

        return _VAR.sub(repl, value)
    if isinstance(value, dict):
        return {k: interpolate(v, env, file, f"{key}.{k}" if key else k) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, file, f"{key}[{i}]") for i, v in enumerate(value)]
    return value


def _dotted(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _schema_errors(exc: ValidationError, file: Path, prefix: str = "") -> list[ConfigError]:
    errors = []
    for err in exc.errors():
        key = _dotted([*([prefix] if prefix else []), *err["loc"]])
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] == "missing":
            message = "required key is missing"
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        errors.append(ConfigError(message, file=file, key=key))
    return errors


def load_butler_config(directory: Path, env: Mapping[str, str] | None = None) -> ButlerConfig:
    """Read and validate `<directory>/butler.toml`; raise ConfigErrors listing every problem."""
    file = directory / CONFIG_FILE
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigErrors([ConfigError("file not found", file=file)]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigErrors([ConfigError(f"not valid TOML: {exc}", file=file)]) from None
    try:
        raw = interpolate(raw, os.environ if env is None else env, file)
        parsed = ButlerFile.model_validate(raw)
    except ConfigError as exc:
        raise ConfigErrors([exc]) from None
    except ValidationError as exc:
        raise ConfigErrors(_schema_errors(exc, file)) from None
    section = parsed.butler
    errors = [
        ConfigError(f"duplicate schedule name '{s.name}'", file=file, key=f"butler.schedule[{i}].name")
        for i, s in enumerate(section.schedule)
        if s.name in {o.name for o in section.schedule[:i]}
    ]
    if errors:
        raise ConfigErrors(errors)
    return ButlerConfig(
        name=section.name,
        description=section.description,
        port=section.port,
        schedules=section.schedule,
        env=section.env,
        agent=section.agent,
        modules=parsed.modules,
        directory=directory.resolve(),
    )


def butler_dirs(root: Path) -> list[Path]:
    """Every `root/*/` that holds a butler.toml, in name order."""
    if not root.is_dir():
        raise ConfigErrors([ConfigError("butler folder does not exist (set BUTLERS_DIR or --dir)", file=root)])
    return sorted(p for p in root.iterdir() if (p / CONFIG_FILE).is_file())


def discover(root: Path, env: Mapping[str, str] | None = None) -> tuple[list[ButlerConfig], list[ConfigError]]:
    """Load every butler under `root`; return the good ones and every error found.

    A butler with a bad file is left out and reported; a name or port used twice
    is reported on the second file (both stay out of the good list for a name
    clash, only the second for a port clash).
    """
    good: list[ButlerConfig] = []
    errors: list[ConfigError] = []
    for directory in butler_dirs(root):
        try:
            good.append(load_butler_config(directory, env))
        except ConfigErrors as exc:
            errors.extend(exc.errors)
        except Exception as exc:  # any surprise stays this butler's: the others still load
            errors.append(ConfigError(f"cannot be loaded: {type(exc).__name__}: {exc}", file=directory / CONFIG_FILE))
    accepted: list[ButlerConfig] = []
    for cfg in good:
        clash = _clash(cfg, accepted)
        if clash:
            errors.append(clash)
        else:
            accepted.append(cfg)
    return accepted, errors


def _clash(cfg: ButlerConfig, accepted: list[ButlerConfig]) -> ConfigError | None:
    for other in accepted:
        if other.name == cfg.name:
            return ConfigError(
                f"butler name '{cfg.name}' is already used by {other.config_file}",
                file=cfg.config_file,
                key="butler.name",
            )
        if other.port == cfg.port:
            return ConfigError(
                f"port {cfg.port} is already used by butler '{other.name}' ({other.config_file})",
                file=cfg.config_file,
                key="butler.port",
            )
    return None


def select_configs(root: Path, only: Sequence[str] = ()) -> tuple[list[ButlerConfig], list[ConfigError]]:
    """The butlers to host: every good config under `root`, filtered by --only (an unknown name is an error)."""
    configs, errors = discover(root)
    if only:
        known = {c.name for c in configs}
        unknown = [n for n in only if n not in known]
        if unknown:
            raise ConfigError(
                f"--only names unknown butler(s): {', '.join(unknown)}; found: {', '.join(sorted(known)) or 'none'}"
            )
        configs = [c for c in configs if c.name in only]
    return configs, errors
