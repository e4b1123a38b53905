"""The navigation every page shows: all pages of issue 13, built here or by the other pages' modules."""

from __future__ import annotations

NAV: tuple[tuple[str, str], ...] = (
    ("Overview", "/"),
    ("Butlers", "/butlers"),
    ("Sessions", "/sessions"),
    ("Spend", "/spend"),
    ("Approvals", "/approvals"),
    ("Messages", "/messages"),
    ("Notifications", "/notifications"),
    ("Contacts", "/contacts"),
    ("Health", "/health"),
)
