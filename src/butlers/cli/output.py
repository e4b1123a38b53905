"""How `butlerctl` commands print: JSON with --json, else lines and aligned tables, times and short ids."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import typer

SHORT_ID = 8  # characters of an id shown in tables


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def show(record: dict[str, Any], as_json: bool, human: str | Callable[[dict[str, Any]], None]) -> None:
    """Print `record` as JSON with --json, else the line `human` (or what the printer `human` prints)."""
    if as_json:
        echo_json(record)
    elif isinstance(human, str):
        typer.echo(human)
    else:
        human(record)


def print_table(table: Sequence[Sequence[str]]) -> None:
    """Rows of cells in aligned columns, two spaces apart; the first row is the header."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def format_time(value: Any) -> str:
    """An ISO time from the butler, in this machine's time zone, to the second."""
    if not isinstance(value, str):
        return "-"
    try:
        return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return value


def first_line(text: Any, width: int = 60) -> str:
    line = str(text or "").strip().split("\n", 1)[0]
    return line if len(line) <= width else line[: width - 1] + "…"


def indent(text: str, spaces: int = 2) -> str:
    return "\n".join(" " * spaces + part for part in str(text).split("\n"))


def listed(answer: dict[str, Any], as_json: bool, key: str, none: str) -> list[dict[str, Any]]:
    """The records under `key` for a table; [] when --json printed the answer, or there are none (`none` is said)."""
    if as_json:
        echo_json(answer)
        return []
    rows: list[dict[str, Any]] = answer.get(key) or []
    if not rows:
        typer.echo(none)
    return rows
