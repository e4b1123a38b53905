"""The environment variables a butler and its modules declare: which are missing, and their values."""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from butlers.config import ButlerConfig
from butlers.errors import CredentialError
from butlers.modules.base import Module

log = structlog.get_logger(__name__)


def missing_credentials(config: ButlerConfig, modules: list[Module], env: Mapping[str, str]) -> list[str]:
    """Required variables that are unset or empty, each with who declared it (`butler.env` or the module)."""
    declared = {"butler.env.required": list(config.env.required)}
    declared.update({f"modules.{m.name}": list(m.credentials_env) for m in modules})
    missing = []
    for where, variables in declared.items():
        unset = [v for v in variables if not env.get(v)]
        if unset:
            missing.append(f"{', '.join(unset)} (for {where})")
    return missing


def check_credentials(config: ButlerConfig, modules: list[Module], env: Mapping[str, str]) -> dict[str, str]:
    """Values of every declared variable; a missing required one fails this butler."""
    missing = missing_credentials(config, modules, env)
    if missing:
        raise CredentialError(
            f"butler '{config.name}' ({config.config_file}): required environment variable(s) not set: "
            + ", ".join(missing)
        )
    for var in config.env.optional:
        if not env.get(var):
            log.warning("credentials.optional_missing", butler=config.name, variable=var)
    required = [*config.env.required, *(v for m in modules for v in m.credentials_env)]
    declared = [*required, *config.env.optional, *(v for m in modules for v in m.optional_credentials_env)]
    return {v: env[v] for v in declared if env.get(v)}
