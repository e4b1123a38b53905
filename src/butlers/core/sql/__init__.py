"""Named SQL queries kept beside the stores that run them (procrastinate's `sql/` is the model).

A `.sql` file here holds blocks, each opened by a `-- name: <query_name>`
line; `load("sessions")` reads `sessions.sql` once, when the store's module is
imported, and returns the blocks by name. The SQL stays plain, parameterised
(`$1`...) and readable with syntax highlighting; the store still picks the
connection or transaction it runs in.
"""

from __future__ import annotations

import re
from importlib.resources import files
from types import MappingProxyType
from typing import Final

_NAME: Final = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def parse(text: str, source: str = "<sql>") -> MappingProxyType[str, str]:
    """The `-- name:` blocks of `text`, by name (comments before the first block are ignored)."""
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"{source}: query '{name}' is named twice")
        sql = body.strip()
        if not sql:
            raise ValueError(f"{source}: query '{name}' is empty")
        queries[name] = sql
    return MappingProxyType(queries)


def load(store: str, package: str = __name__) -> MappingProxyType[str, str]:
    """The queries of `<store>.sql` in `package` (by default this one, the core stores' SQL)."""
    resource = files(package) / f"{store}.sql"
    return parse(resource.read_text(encoding="utf-8"), f"{package}/{store}.sql")
