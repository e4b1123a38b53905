"""Secrets from systemd credentials (`LoadCredential=`), as an alternative to environment files.

systemd puts each credential in a private folder named by `$CREDENTIALS_DIRECTORY`,
readable by the service only and never part of its environment block. A file
named like an environment variable (e.g. `ANTHROPIC_API_KEY`, or
`butlers_ANTHROPIC_API_KEY` as systemd names the files of a credential folder loaded
with `LoadCredential=butlers:/etc/butlers/credentials`) gives that variable its value, for butlerd's own settings and for the credentials butlers
declare; a variable already set in the environment wins.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from pathlib import Path

VARIABLE_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
FOLDER_PREFIX = "butlers_"  # the credential id the shipped unit gives its credential folder


def load_systemd_credentials(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Set a variable from each credential file named like one; return the names set (never the values)."""
    env = os.environ if environ is None else environ
    folder = env.get("CREDENTIALS_DIRECTORY")
    if not folder or not Path(folder).is_dir():
        return []
    loaded = []
    for path in sorted(Path(folder).iterdir()):
        name = path.name.removeprefix(FOLDER_PREFIX)
        if not VARIABLE_NAME.fullmatch(name) or env.get(name) or not path.is_file():
            continue
        env[name] = path.read_text(encoding="utf-8").rstrip("\r\n")
        loaded.append(name)
    return loaded
