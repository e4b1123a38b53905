"""`remote_command`: a command's `remote` parameter becomes --json, --dir and --host, last and in that order."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from butlers.cli.remote import Remote, remote_command

pytestmark = pytest.mark.unit

seen: list[tuple[str, int, Remote]] = []
app = typer.Typer()


@app.command()
@remote_command
def probe(
    name: Annotated[str, typer.Argument(help="A name.")],
    times: Annotated[int, typer.Option("--times", help="How often.")] = 1,
    *,
    remote: Remote,
) -> None:
    """Record what it was given."""
    seen.append((name, times, remote))


def test_the_options_reach_the_command_as_one_remote(tmp_path: Path) -> None:
    seen.clear()
    result = CliRunner().invoke(app, ["alpha", "--times", "3", "--json", "--dir", str(tmp_path), "--host", "::1"])
    assert result.exit_code == 0, result.output
    assert seen == [("alpha", 3, Remote(as_json=True, directory=tmp_path, host="::1"))]
    assert CliRunner().invoke(app, ["beta"]).exit_code == 0
    assert seen[-1] == ("beta", 1, Remote(as_json=False, directory=None, host=None))


def test_help_lists_the_command_options_then_the_shared_ones() -> None:
    text = CliRunner().invoke(app, ["--help"], terminal_width=200).output
    assert "Record what it was given." in text
    places = [text.index(option) for option in ("--times", "--json", "--dir", "--host")]
    assert places == sorted(places)
    assert "--remote" not in text
