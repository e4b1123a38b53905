"""`butlerctl init`: a new butler folder that loads clean, or nothing at all.

The folder is built in a hidden temporary directory beside its final place,
loaded with the real config loader, then renamed into place; a refusal or a
failure leaves the butler folder exactly as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from butlers.config import CONFIG_FILE, NAME_PATTERN, AgentConfig, load_butler_config
from butlers.errors import ConfigError, ConfigErrors

MIN_PORT, MAX_PORT = 1, 65535


@dataclass(frozen=True)
class Claim:
    """A name and port some existing butler folder holds (read leniently)."""

    directory: Path
    name: str | None
    port: int | None


def scaffold(root: Path, name: str, port: int, description: str | None = None) -> Path:
    """Create `root/name/` with butler.toml, CLAUDE.md, AGENTS.md and skills/; return the folder.

    Raises ConfigErrors (and writes nothing) when the name is invalid, the
    port is out of range or taken, or the folder already exists.
    """
    target = root / name
    problems = refusals(root, name, port)
    if problems:
        raise ConfigErrors(problems)
    description = description if description is not None else f"The {name} butler."
    created_root = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.init-", dir=root))
    try:
        _write_files(staging, name, port, description)
        # Proof that what we ship is valid, with the same loader the daemon uses.
        load_butler_config(staging)
        # mkdtemp makes its folder 0700; the butler folder gets the mode the umask says, like mkdir.
        staging.chmod(0o777 & ~_current_umask())
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created_root:
            with contextlib.suppress(OSError):
                root.rmdir()
        raise
    return target


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def refusals(root: Path, name: str, port: int) -> list[ConfigError]:
    """Every reason not to create `root/name` on `port`; empty when it is fine."""
    target = root / name
    errors: list[ConfigError] = []
    if not re.match(NAME_PATTERN, name):
        errors.append(ConfigError(
            f"'{name}' is not a valid butler name: a lowercase letter, then up to 62 of a-z, 0-9, '_', '-'",
            key="NAME",
        ))  # fmt: skip
    if not MIN_PORT <= port <= MAX_PORT:
        errors.append(ConfigError(f"port {port} is out of range ({MIN_PORT}-{MAX_PORT})", key="--port"))
    if target.exists():
        errors.append(ConfigError("already exists; choose another name or remove it first", file=target))
    for claim in existing_claims(root):
        if claim.port == port:
            errors.append(ConfigError(f"port {port} is already used by butler '{claim.name}'", file=claim.directory / CONFIG_FILE, key="butler.port"))  # fmt: skip
        if claim.name == name and claim.directory != target:
            errors.append(ConfigError(f"butler name '{name}' is already used", file=claim.directory / CONFIG_FILE, key="butler.name"))  # fmt: skip
    return errors


def existing_claims(root: Path) -> list[Claim]:
    """Names and ports of every butler folder under `root`, also of ones with other errors.

    Read straight from the TOML (no validation, no `${VAR}`) so that a butler
    whose file is broken elsewhere still keeps its port from being reused.
    """
    if not root.is_dir():
        return []
    claims = []
    for file in sorted(root.glob(f"*/{CONFIG_FILE}")):
        try:
            section = tomllib.loads(file.read_text(encoding="utf-8")).get("butler", {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        if not isinstance(section, dict):
            continue
        name, port = section.get("name"), section.get("port")
        claims.append(Claim(
            directory=file.parent,
            name=name if isinstance(name, str) else None,
            port=port if isinstance(port, int) else None,
        ))  # fmt: skip
    return claims


def _write_files(folder: Path, name: str, port: int, description: str) -> None:
    (folder / CONFIG_FILE).write_text(butler_toml(name, port, description), encoding="utf-8")
    (folder / "CLAUDE.md").write_text(CLAUDE_MD.format(name=name, description=description), encoding="utf-8")
    (folder / "AGENTS.md").write_text(AGENTS_MD.format(name=name), encoding="utf-8")
    (folder / "skills").mkdir()
    (folder / "skills" / "README.md").write_text(SKILLS_README, encoding="utf-8")


def _toml_string(value: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes; json.dumps
    # never emits the one TOML lacks, "\/").
    return json.dumps(value, ensure_ascii=False)


def butler_toml(name: str, port: int, description: str) -> str:
    """The scaffolded butler.toml; agent defaults come from the model so they never drift."""
    agent = AgentConfig()
    return f"""\
# butler.toml of the '{name}' butler. Every key: docs/configuration.md
# Check it with `butlerctl check`; ${{VAR}} in any string is read from the environment.

[butler]
name = {_toml_string(name)}
description = {_toml_string(description)}
port = {port}

# How this butler's Claude Code sessions run (the defaults are shown).
[butler.agent]
# model = "claude-sonnet-4-5"   # default: Claude Code's own
max_turns = {agent.max_turns}
timeout_s = {agent.timeout_s}
max_concurrency = {agent.max_concurrency}
# daily_budget_usd = 5.0        # default: no limit

# Environment variables this butler's sessions receive; no other variable is passed on.
[butler.env]
required = []   # startup of this butler fails when one is missing
optional = []

# A schedule runs a prompt on a five-field cron expression. Uncomment to use.
# [[butler.schedule]]
# name = "morning-briefing"
# cron = "0 8 * * *"
# prompt = "Summarise what I should know today."
# timezone = "Europe/Paris"     # default: the host's
# enabled = true

# Modules add tools; each one is enabled by its own table, e.g.
# [modules.notes]
"""


CLAUDE_MD = """\
# {name}

{description}

You are **{name}**, one of the user's butlers: a long-running assistant with its
own tools, its own memory (the `state_*` tools) and its own schedules.

## What you are for

- Describe here what this butler takes care of, and what it should leave to others.

## How you work

- Be brief. Say what you did and what you could not do.
- Keep what must be remembered in state (`state_set`), under clear key prefixes.
- Never invent facts; ask when something is unclear.
"""

AGENTS_MD = """\
# Notes for {name}'s sessions

Runtime notes the agent and its owner keep: conventions that emerged, state keys
in use, things learned. Read together with CLAUDE.md as the system prompt.
"""

SKILLS_README = """\
# Skills

Skill definitions for this butler, one folder per skill (reserved for later use).
"""
