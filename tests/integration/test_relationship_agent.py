"""The real Claude Code CLI, driven by the model stand-in, stores a birthday through the tools and reads it back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from relationship_helpers import running_relationship

from butlers.testing.model_api import ModelApiStandIn, Text, ToolUse, Turn
from butlers.testing.postgres import TestPostgres

PREFIX = "mcp__relationship__"


async def test_agent_stores_a_contact_with_birthday_and_reads_it_back(pg: TestPostgres, tmp_path: Path) -> None:
    script: list[Turn] = [
        # "Zoë's birthday is on 14 March": look up first (nothing), then create.
        ToolUse(f"{PREFIX}relationship_contact_find", {"query": "Zoe"}),
        ToolUse(f"{PREFIX}relationship_contact_create", {"display_name": "Zoë Martin", "birthday": "--03-14"}),
        Text("Saved Zoë Martin, birthday 14 March."),
        # "When is Zoe's birthday?": find (typo, no accent), then read the contact.
        ToolUse(f"{PREFIX}relationship_contact_find", {"query": "Zoe Martn"}),
        ToolUse(f"{PREFIX}relationship_contact_get", {"id": 1}),
        Text("Zoë Martin's birthday is on 14 March."),
    ]
    async with ModelApiStandIn(script) as api:
        with pytest.MonkeyPatch.context() as env:
            for name, value in {**api.env(), "CLAUDE_CODE_MAX_RETRIES": "0"}.items():
                env.setenv(name, value)
            env.delenv("CLAUDE_CODE_OAUTH_TOKEN", raising=False)
            with running_relationship(pg, tmp_path / "relationship") as rel:
                stored = await rel.call("trigger", prompt="Zoë's birthday is on 14 March", wait=True)
                assert stored["status"] == "succeeded", stored
                read = await rel.call("trigger", prompt="When is Zoe's birthday?", wait=True)
                assert read["status"] == "succeeded", read
                in_db = await rel.fetchval(
                    "SELECT d.month * 100 + d.day FROM relationship_dates d JOIN relationship_contacts c"
                    " ON c.id = d.contact_id WHERE c.display_name = 'Zoë Martin' AND d.kind = 'birthday'"
                )
        offered = set(api.tool_names(0))
    assert in_db == 314
    assert f"{PREFIX}relationship_contact_create" in offered and "Bash" not in offered
    assert "always look a person up before creating" in api.system_text(0).lower()
    results = [
        " ".join(b.get("text", "") for b in r["content"]) if isinstance(r["content"], list) else str(r["content"])
        for r in api.tool_results()
    ]
    assert len(results) == 4 and not any(r.get("is_error") for r in api.tool_results())
    assert json.loads(results[2])["result"][0]["display_name"] == "Zoë Martin"  # the typo still found her
    assert "--03-14" in results[3]
    assert read["result"] == "Zoë Martin's birthday is on 14 March."
