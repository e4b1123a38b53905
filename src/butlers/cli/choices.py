"""Option values limited to a vocabulary (a StrEnum of `butlers.statuses`, maybe with extras such as "all").

Click's own Choice needs the values written out in the annotation; `one_of`
takes them from the enum, so `--help` and the refusal list the same words as
the tool's JSON schema and the SQL CHECK. A value outside is a usage error
(exit 2), as docs/cli.md says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypedDict

import typer


class ChoiceOption(TypedDict):
    parser: Callable[[str], str]
    metavar: str


def one_of(*vocabularies: Iterable[str]) -> ChoiceOption:
    """`typer.Option(..., **one_of(SessionStatus))`: the option accepts exactly these words."""
    allowed = [str(v) for vocabulary in vocabularies for v in vocabulary]

    def parse(value: str) -> str:
        if value not in allowed:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    return {"parser": parse, "metavar": "{" + ",".join(allowed) + "}"}
