"""docs/cli.md is generated from the typer apps; this fails as soon as it drifts from the code."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", REPO / "scripts" / "gen_cli_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_up_to_date() -> None:
    generator = load_generator()
    expected = generator.render()
    actual = generator.OUTPUT.read_text(encoding="utf-8") if generator.OUTPUT.is_file() else ""
    assert actual == expected, "docs/cli.md is out of date: run `uv run python scripts/gen_cli_docs.py`"


def test_cli_reference_covers_every_butlerctl_command() -> None:
    text = load_generator().render()
    for command in ("list", "check", "init", "status"):
        assert f"### `butlerctl {command}`" in text
