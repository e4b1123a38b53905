"""The contract every module must pass, built in or third party.

Run your module through it from your own tests::

    # conftest.py
    import pytest
    from butlers.testing.postgres import TestPostgres

    @pytest.fixture(scope="session")
    def pg(tmp_path_factory):
        server = TestPostgres(tmp_path_factory.mktemp("pg") / "data")
        yield server
        server.stop()

    @pytest.fixture
    def database(pg):
        with pg.database() as name:   # a fresh database with the core schema
            yield name

    # test_contract.py
    from butlers.testing.module_contract import check_module_contract
    from my_package import WeatherModule

    async def test_weather_module_meets_the_contract(pg, database, tmp_path):
        await check_module_contract(WeatherModule, {"units": "metric"}, pg.address, database, tmp_path)

(with `asyncio_mode = "auto"` of pytest-asyncio, or mark the test `@pytest.mark.asyncio`).

What is checked, each failure an AssertionError saying which rule broke and how to fix it:

- `name` is a lower-case identifier (`[a-z][a-z0-9_]*`) — it prefixes tools and names tables;
- `config_schema` is a pydantic model, accepts `config`, and rejects unknown keys (`extra="forbid"`);
- every name in `dependencies` is an installed module (entry point `butlers.modules`) or listed in
  `known_modules` (for a dependency your test environment does not install), and not the module itself;
- every name in `credentials_env` and `optional_credentials_env` looks like an environment variable (`[A-Z_][A-Z0-9_]*`);
- the migrations (if `migrations_dir` is set) apply on a fresh database, and applying them again applies nothing;
- `on_startup` runs; `register_tools` adds at least one tool, every tool is named `<name>_...`, has a
  description and an object input schema;
- `serve`, started with `tg.start` as the butler does (after `on_startup`), calls `task_status.started()`
  within `serve_start_timeout_s`, does not raise, and stops within `serve_stop_timeout_s` of being cancelled;
- `on_shutdown` runs after `on_startup` (also when a later check failed), after `serve` has stopped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from fastmcp import FastMCP
from pydantic import BaseModel, ValidationError

from butlers.db import ServerAddress, create_pool
from butlers.migrate import apply_migrations
from butlers.modules.base import Module, ModuleContext
from butlers.modules.loader import available_modules

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_ENV_VAR = re.compile(r"[A-Z_][A-Z0-9_]*")
_PROBE_KEY = "contract_probe_unknown_key"


@dataclass(frozen=True)
class ContractReport:
    """What the contract saw, for further assertions of your own."""

    module: str
    tools: list[str]
    migrations_applied: list[str]


async def check_module_contract(
    module_cls: type[Module],
    config: Mapping[str, Any],
    address: ServerAddress,
    database: str,
    data_dir: Path,
    *,
    known_modules: Iterable[str] = (),
    credentials: Mapping[str, str] | None = None,
    serve_start_timeout_s: float = 10.0,
    serve_stop_timeout_s: float = 10.0,
) -> ContractReport:
    """Run `module_cls` with `config` (its `[modules.<name>]` table) through the contract.

    `database` must be a fresh database on `address`. `credentials` default to a
    placeholder value for each of `credentials_env`. `serve` must report started within
    `serve_start_timeout_s` and stop within `serve_stop_timeout_s` of its cancellation.
    """
    problems = _static_problems(module_cls, config, set(known_modules))
    if problems:
        raise AssertionError(f"module {module_cls.__name__} breaks the contract:\n- " + "\n- ".join(problems))
    name = module_cls.name
    module = module_cls(module_cls.config_schema.model_validate(dict(config)))
    applied = await _check_migrations(module_cls, address, database)
    pool = await create_pool(address, database, max_size=4)
    try:
        ctx = ModuleContext(
            butler="contract",
            pool=pool,
            directory=data_dir,
            data_dir=data_dir / name,
            credentials=dict(credentials or dict.fromkeys(module_cls.credentials_env, "contract-placeholder")),
        )
        ctx.data_dir.mkdir(parents=True, exist_ok=True)
        tools = await _check_lifecycle(module, ctx, serve_start_timeout_s, serve_stop_timeout_s)
    finally:
        await pool.close()
    return ContractReport(module=name, tools=tools, migrations_applied=applied)


def _static_problems(module_cls: type[Module], config: Mapping[str, Any], known: set[str]) -> list[str]:
    name = getattr(module_cls, "name", None)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return [f"name must be a lower-case identifier like 'notes' (it prefixes tool names), got {name!r}"]
    return [
        *_schema_problems(module_cls, config),
        *_dependency_problems(module_cls, known),
        *(
            f"credentials_env entry {var!r} is not an environment variable name (e.g. 'WEATHER_API_KEY')"
            for var in (*module_cls.credentials_env, *module_cls.optional_credentials_env)
            if not (isinstance(var, str) and _ENV_VAR.fullmatch(var))
        ),
    ]


def _schema_problems(module_cls: type[Module], config: Mapping[str, Any]) -> list[str]:
    schema = module_cls.config_schema
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        return [f"config_schema must be a pydantic BaseModel subclass, got {schema!r}"]
    try:
        schema.model_validate(dict(config))
    except ValidationError as exc:
        return [f"config_schema {schema.__name__} rejects the config given to the contract {dict(config)!r}: {exc}"]
    try:
        schema.model_validate({**config, _PROBE_KEY: 1})
    except ValidationError:
        return []
    return [
        f"config_schema {schema.__name__} accepts the unknown key {_PROBE_KEY!r}; "
        'set model_config = ConfigDict(extra="forbid") so typos in butler.toml are reported'
    ]


def _dependency_problems(module_cls: type[Module], known: set[str]) -> list[str]:
    deps = module_cls.dependencies
    if not isinstance(deps, tuple | list) or not all(isinstance(d, str) for d in deps):
        return [f"dependencies must be a tuple of module names, got {deps!r}"]
    if module_cls.name in deps:
        return [f"module {module_cls.name!r} lists itself in dependencies"]
    installed = set(available_modules()) | known
    return [
        f"dependency {dep!r} is not an installed module (entry point group 'butlers.modules'); "
        "install it or pass known_modules=[...] to the contract"
        for dep in deps
        if dep not in installed
    ]


async def _check_migrations(module_cls: type[Module], address: ServerAddress, database: str) -> list[str]:
    folder = module_cls.migrations_dir
    if folder is None:
        return []
    name = module_cls.name
    assert Path(folder).is_dir(), f"{name}: migrations_dir {folder} is not a folder"
    first = await apply_migrations(address, database, Path(folder), owner=name)
    assert first, f"{name}: migrations_dir {folder} holds no migrations (leave migrations_dir None instead)"
    again = await apply_migrations(address, database, Path(folder), owner=name)
    assert again == [], f"{name}: applying the migrations a second time applied {again}; they must apply once"
    return first


async def _check_lifecycle(
    module: Module, ctx: ModuleContext, start_timeout_s: float, stop_timeout_s: float
) -> list[str]:
    name = module.name
    try:
        await module.on_startup(ctx)
    except Exception as exc:
        raise AssertionError(f"{name}: on_startup raised {type(exc).__name__}: {exc}") from exc
    try:
        tools = await _check_tools(module, ctx)
        await _check_serve(module, ctx, start_timeout_s, stop_timeout_s)
        return tools
    finally:
        # on_shutdown must run whenever on_startup did, as the daemon does.
        try:
            await module.on_shutdown(ctx)
        except Exception as exc:
            raise AssertionError(f"{name}: on_shutdown raised {type(exc).__name__}: {exc}") from exc


async def _check_tools(module: Module, ctx: ModuleContext) -> list[str]:
    name = module.name
    mcp: FastMCP = FastMCP("contract")
    try:
        module.register_tools(mcp, ctx)
    except Exception as exc:
        raise AssertionError(f"{name}: register_tools raised {type(exc).__name__}: {exc}") from exc
    tools = await mcp.list_tools()
    assert tools, f"{name}: register_tools added no tool; a module must add at least one"
    problems: list[str] = []
    for tool in tools:
        if not tool.name.startswith(f"{name}_"):
            problems.append(f"tool {tool.name!r} must be named '{name}_...' so tools of modules never clash")
        if not (tool.description or "").strip():
            problems.append(f"tool {tool.name!r} has no description (give the function a docstring)")
        if not isinstance(tool.parameters, dict) or tool.parameters.get("type") != "object":
            problems.append(f"tool {tool.name!r} has no object input schema: {tool.parameters!r}")
    assert not problems, f"{name}: tools break the contract:\n- " + "\n- ".join(problems)
    return sorted(t.name for t in tools)


async def _check_serve(module: Module, ctx: ModuleContext, start_timeout_s: float, stop_timeout_s: float) -> None:
    """Start `serve` as the butler does, then cancel it.

    Failures are collected and raised after the task group exits: raised inside it, they
    would arrive wrapped in an ExceptionGroup.
    """
    name = module.name
    problem: str | None = None
    cause: BaseException | None = None
    stop_began: float | None = None
    try:
        async with anyio.create_task_group() as tg:
            started = False
            try:
                with anyio.move_on_after(start_timeout_s):
                    await tg.start(module.serve, ctx)
                    started = True
            except Exception as exc:
                problem, cause = f"serve raised {type(exc).__name__} before it reported started: {exc}", exc
            else:
                if not started:
                    problem = (
                        f"serve did not call task_status.started() within {start_timeout_s}s; call it once"
                        " set-up is done and retry an unreachable server in the background instead of waiting"
                    )
            stop_began = time.monotonic()
            tg.cancel_scope.cancel()
    except Exception as exc:  # raised by serve after it reported started (or while being cancelled)
        if isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        problem, cause = f"serve raised {type(exc).__name__} after it reported started: {exc}", exc
    if problem is None and stop_began is not None:
        took = time.monotonic() - stop_began
        if took > stop_timeout_s:
            problem = (
                f"serve took {took:.1f}s to stop after it was cancelled (at most {stop_timeout_s}s);"
                " do not shield long waits from cancellation"
            )
    if problem is not None:
        raise AssertionError(f"{name}: {problem}") from cause
