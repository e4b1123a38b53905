"""Finding modules (entry points) and turning `[modules.<name>]` into started-in-order instances.

Built-in and third-party modules are found the same way: the `butlers.modules`
entry-point group. `load_modules` validates every table, checks dependencies and
sorts them, and reports every problem at once so `butlerctl check` lists them all.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from butlers.config import ButlerConfig
from butlers.errors import ConfigError, ConfigErrors, ModuleError
from butlers.modules.base import Module

ENTRY_POINT_GROUP = "butlers.modules"

Registry = Mapping[str, type[Module]]


def available_modules() -> dict[str, type[Module]]:
    """Every installed module by name; an entry point that cannot be loaded is an error naming it."""
    return {name: _load_entry_point(ep) for name, ep in _entry_points().items()}


def _entry_points() -> dict[str, EntryPoint]:
    return dict(_scanned_entry_points(tuple(sys.path)))


@functools.lru_cache(maxsize=4)
def _scanned_entry_points(path: tuple[str, ...]) -> tuple[tuple[str, EntryPoint], ...]:
    # Scanning every installed distribution's metadata costs milliseconds; a daemon of 50
    # butlers did it 50 times at each start. Modules are found at start, so one scan per
    # import path serves them all (a module installed later is found at the next start).
    return tuple((ep.name, ep) for ep in entry_points(group=ENTRY_POINT_GROUP))


def _load_entry_point(ep: EntryPoint) -> type[Module]:
    try:
        cls = ep.load()
    except Exception as exc:  # any import-time failure of third-party code
        raise ModuleError(f"module entry point '{ep.name} = {ep.value}' cannot be loaded: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise ModuleError(f"module entry point '{ep.name} = {ep.value}' is not a butlers.modules.Module subclass")
    return cls


def _load_enabled(config: ButlerConfig, errors: list[ConfigError]) -> tuple[dict[str, type[Module]], list[str]]:
    # Only the modules this butler enables are imported: a broken plugin it does
    # not use must not stop it.
    eps = _entry_points()
    loaded: dict[str, type[Module]] = {}
    for name in config.modules:
        if name in eps:
            try:
                loaded[name] = _load_entry_point(eps[name])
            except ModuleError as exc:
                errors.append(ConfigError(str(exc), file=config.config_file, key=f"modules.{name}"))
    return loaded, sorted(eps)


def load_modules(config: ButlerConfig, registry: Registry | None = None) -> list[Module]:
    """Instances of the modules enabled in `config`, dependencies first.

    Raises ConfigErrors listing every unknown module, bad setting, missing
    dependency and cycle found.
    """
    file = config.config_file
    errors: list[ConfigError] = []
    known, installed = (dict(registry), sorted(registry)) if registry is not None else _load_enabled(config, errors)
    instances: dict[str, Module] = {}
    for name, table in config.modules.items():
        cls = known.get(name)
        if cls is None and name in installed:
            continue  # installed but broken: already reported
        if cls is None:
            choices = ", ".join(installed) or "none installed"
            errors.append(
                ConfigError(f"unknown module '{name}' (known modules: {choices})", file=file, key=f"modules.{name}")
            )
            continue
        config_model = _validate_table(cls, name, table, file, errors)
        if config_model is not None:
            instances[name] = cls(config_model)
    # Dependencies are judged from the class, so a module with a bad table still
    # gets its missing dependency reported in the same run.
    classes = {name: known[name] for name in config.modules if name in known}
    errors.extend(_missing_dependencies(classes, set(config.modules), file))
    order = _sorted_names(classes, file, errors)
    if errors:
        raise ConfigErrors(errors)
    return [instances[name] for name in order]


def _validate_table(
    cls: type[Module], name: str, table: dict[str, Any], file: Path, errors: list[ConfigError]
) -> BaseModel | None:
    try:
        return cls.config_schema.model_validate(table)
    except ValidationError as exc:
        for err in exc.errors():
            key = ".".join(["modules", name, *(str(part) for part in err["loc"])])
            message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
            errors.append(ConfigError(message, file=file, key=key))
        return None


def _missing_dependencies(classes: Mapping[str, type[Module]], enabled: set[str], file: Path) -> list[ConfigError]:
    return [
        ConfigError(
            f"module '{name}' depends on module '{dep}', which is not enabled; add a [modules.{dep}] table",
            file=file,
            key=f"modules.{name}",
        )
        for name, cls in classes.items()
        for dep in cls.dependencies
        if dep not in enabled
    ]


def _sorted_names(classes: Mapping[str, type[Module]], file: Path, errors: list[ConfigError]) -> list[str]:
    # Missing dependencies are left out of the graph: they are already reported.
    graph = {name: [d for d in cls.dependencies if d in classes] for name, cls in classes.items()}
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        cycle: list[str] = list(reversed(exc.args[1]))  # graphlib lists it dependent-last
        errors.append(
            ConfigError(
                f"module dependency cycle (each depends on the next): {' -> '.join(cycle)}",
                file=file,
                key=f"modules.{cycle[0]}",
            )
        )
        return []


def required_credentials(modules: Iterable[Module | type[Module]]) -> list[str]:
    """The environment variables the given modules need, each once, in module order."""
    seen: dict[str, None] = {}
    for module in modules:
        seen.update(dict.fromkeys(module.credentials_env))
    return list(seen)
