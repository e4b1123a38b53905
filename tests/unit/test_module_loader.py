"""Loading `[modules.<name>]`: unknown modules, bad settings, dependencies, order — every error at once."""

from __future__ import annotations

import itertools
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict

from butlers.config import ButlerConfig, load_butler_config
from butlers.errors import ConfigErrors, ModuleError
from butlers.modules import loader
from butlers.modules.base import Module, ModuleContext
from butlers.modules.loader import available_modules, load_modules, required_credentials
from butlers.modules.notes import NotesModule


class FakeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = 1


def fake(name: str, *deps: str, creds: tuple[str, ...] = ()) -> type[Module]:
    """A module class that only declares things; nothing runs."""

    class Fake(Module):
        config_schema: ClassVar[type[BaseModel]] = FakeConfig
        dependencies: ClassVar[tuple[str, ...]] = deps
        credentials_env: ClassVar[tuple[str, ...]] = creds

        def register_tools(self, mcp: Any, ctx: ModuleContext) -> None:
            pass

    Fake.name = name
    return Fake


def butler(tmp_path: Path, modules: str) -> ButlerConfig:
    (tmp_path / "butler.toml").write_text(f'[butler]\nname = "test"\nport = 8199\n\n{modules}\n')
    return load_butler_config(tmp_path, env={})


def errors_of(exc: pytest.ExceptionInfo[ConfigErrors]) -> list[str]:
    return [str(e) for e in exc.value.errors]


def test_modules_come_out_dependencies_first(tmp_path: Path) -> None:
    registry = {"email": fake("email"), "inbox": fake("inbox", "email", "calendar"), "calendar": fake("calendar")}
    cfg = butler(tmp_path, "[modules.inbox]\n[modules.email]\nsize = 3\n[modules.calendar]")
    modules = load_modules(cfg, registry)
    names = [m.name for m in modules]
    assert names.index("email") < names.index("inbox") and names.index("calendar") < names.index("inbox")
    assert next(m for m in modules if m.name == "email").config == FakeConfig(size=3)


def test_unknown_module_names_file_key_and_known_modules(tmp_path: Path) -> None:
    cfg = butler(tmp_path, "[modules.emial]")
    with pytest.raises(ConfigErrors) as exc:
        load_modules(cfg, {"email": fake("email"), "notes": fake("notes")})
    (message,) = errors_of(exc)
    assert str(cfg.config_file) in message and "modules.emial" in message
    assert "known modules: email, notes" in message


def test_bad_or_unknown_module_setting_names_the_key(tmp_path: Path) -> None:
    cfg = butler(tmp_path, '[modules.email]\nsize = "big"\ncolour = "red"')
    with pytest.raises(ConfigErrors) as exc:
        load_modules(cfg, {"email": fake("email")})
    messages = errors_of(exc)
    assert any(f"{cfg.config_file}: modules.email.size:" in m and "integer" in m for m in messages)
    assert any(f"{cfg.config_file}: modules.email.colour: unknown key" in m for m in messages)


def test_dependency_not_enabled_names_both_modules_and_the_file(tmp_path: Path) -> None:
    cfg = butler(tmp_path, "[modules.inbox]")
    with pytest.raises(ConfigErrors) as exc:
        load_modules(cfg, {"email": fake("email"), "inbox": fake("inbox", "email")})
    (message,) = errors_of(exc)
    assert str(cfg.config_file) in message
    assert "'inbox' depends on module 'email'" in message and "[modules.email]" in message


def test_dependency_cycle_is_named(tmp_path: Path) -> None:
    registry = {"a": fake("a", "b"), "b": fake("b", "c"), "c": fake("c", "a"), "d": fake("d")}
    cfg = butler(tmp_path, "[modules.a]\n[modules.b]\n[modules.c]\n[modules.d]")
    with pytest.raises(ConfigErrors) as exc:
        load_modules(cfg, registry)
    (message,) = errors_of(exc)
    assert "cycle" in message and str(cfg.config_file) in message
    cycle = message.split(": ")[-1].split(" -> ")
    assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    # Each name depends on the next one, as the message says.
    for here, there in itertools.pairwise(cycle):
        assert there in registry[here].dependencies


def test_every_error_is_reported_in_one_go(tmp_path: Path) -> None:
    registry = {"email": fake("email"), "inbox": fake("inbox", "email")}
    cfg = butler(tmp_path, "[modules.nope]\n[modules.inbox]\nsize = 'x'")
    with pytest.raises(ConfigErrors) as exc:
        load_modules(cfg, registry)
    keys = [e.key for e in exc.value.errors]
    # unknown module, bad setting, missing dependency: all three, not just the first
    assert keys == ["modules.nope", "modules.inbox.size", "modules.inbox"]


def test_no_modules_is_fine(tmp_path: Path) -> None:
    assert load_modules(butler(tmp_path, ""), {}) == []


def test_required_credentials_each_once_in_module_order() -> None:
    mods = [fake("a", creds=("A_KEY", "SHARED")), fake("b", creds=("SHARED", "B_TOKEN"))]
    assert required_credentials(mods) == ["A_KEY", "SHARED", "B_TOKEN"]


def test_notes_is_installed_through_its_entry_point() -> None:
    assert available_modules()["notes"] is NotesModule


def test_a_broken_plugin_is_named_and_stops_only_butlers_that_enable_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = {
        "notes": EntryPoint("notes", "butlers.modules.notes:NotesModule", "butlers.modules"),
        "broken": EntryPoint("broken", "no_such_package_xyz:Module", "butlers.modules"),
    }
    monkeypatch.setattr(loader, "_entry_points", lambda: installed)
    with pytest.raises(ModuleError, match="broken = no_such_package_xyz:Module"):
        available_modules()
    assert [m.name for m in load_modules(butler(tmp_path, "[modules.notes]"))] == ["notes"]
    cfg = butler(tmp_path, "[modules.broken]")
    with pytest.raises(ConfigErrors) as exc:
        load_modules(cfg)
    (error,) = exc.value.errors
    assert error.key == "modules.broken" and "cannot be loaded" in str(error) and str(cfg.config_file) in str(error)
