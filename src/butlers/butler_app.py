"""A butler's MCP app (its middleware, core tools and module tools) and each module's context.

Built by `Butler.start` once the butler's services exist; kept apart from the butler's
lifetime (butler.py) because it is the one place that says what a butler offers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from fastmcp import FastMCP

from butlers.core.approval_tools import register_approval_tools
from butlers.core.input_guard import HostileInputGuard
from butlers.core.notify_tools import context_notifier, register_notify_tools
from butlers.core.schedule_run_tools import register_schedule_run_tool
from butlers.core.schema_cache import InlinedSchemas
from butlers.core.session_tools import register_session_tools
from butlers.core.spend_tools import register_spend_tools
from butlers.core.tool_lookup import DirectToolLookup
from butlers.core.tools import register_core_tools
from butlers.db_health import ToolGuard
from butlers.modules.base import Module, ModuleContext
from butlers.session_trace import SessionTraceLink

if TYPE_CHECKING:
    from butlers.butler import Butler

log = structlog.get_logger("butlers.butler")


def module_context(butler: Butler, module: Module) -> ModuleContext:
    """What `module` is given: its data folder, its declared credentials and the butler's services."""
    data_dir = butler.settings.data_dir / "modules" / butler.name / module.name
    data_dir.mkdir(parents=True, exist_ok=True)
    declared = (*module.credentials_env, *module.optional_credentials_env)
    creds = {v: butler.credentials[v] for v in declared if v in butler.credentials}
    return ModuleContext(
        butler=butler.name,
        pool=butler.pool,
        directory=butler.config.directory,
        data_dir=data_dir,
        credentials=creds,
        dispatcher=butler.dispatcher,
        log=log.bind(butler=butler.name, module=module.name),
        inbound=butler.inbound,
        approvals=butler.approvals,
        notify=context_notifier(butler),
        channels=butler.channels,
        fleet=butler.fleet,
    )


def build_mcp(butler: Butler, contexts: dict[str, ModuleContext]) -> FastMCP:
    """The butler's FastMCP app with every core tool and the tools of its modules."""
    instructions = butler.config.description or f"The {butler.name} butler."
    # mask_error_details: an unexpected exception reaches the client as "Error calling tool
    # 'x'", never its text (which may carry rows, paths or secrets); ToolErrors pass as written.
    mcp: FastMCP = FastMCP(
        butler.name,
        instructions=instructions,
        on_duplicate="error",
        mask_error_details=True,
        dereference_schemas=False,  # InlinedSchemas does it once per tool instead of per list
        middleware=[ToolGuard(lambda: butler.health), HostileInputGuard(), SessionTraceLink(), InlinedSchemas()],
    )
    mcp.add_transform(DirectToolLookup(mcp))  # one provider: no task group per tool lookup
    register_core_tools(mcp, butler.services, butler)
    register_session_tools(mcp, butler.spawner, butler.spawner.sessions)
    register_approval_tools(mcp, butler.approvals)
    register_spend_tools(mcp, butler)  # spend_report (issue 13)
    register_schedule_run_tool(mcp, butler)  # schedule_run (issue 13)
    register_notify_tools(mcp, butler)  # notify, remind (switchboard-notify)
    for module in butler.modules:
        module.register_tools(mcp, contexts[module.name])
    return mcp
