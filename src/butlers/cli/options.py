"""The options and arguments `butlerctl` commands share, as typer `Annotated` types."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="Folder holding one sub-folder per butler. Default: $BUTLERS_DIR, else ./butlers.d.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
HostOption = Annotated[
    str | None,
    typer.Option(
        "--host", help="Address the butlers listen on. Default: $BUTLERS_HOST, else 127.0.0.1.", show_default=False
    ),
]

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The butler's name, as in its butler.toml.")]
