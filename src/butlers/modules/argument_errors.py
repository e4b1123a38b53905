"""Module tools registered here go through the one MCP edge, `butlers.core.tool_edge`.

`add_tools` is tool_edge's: schema failures and the `CallerError` family become
`tool: argument 'x': what is wrong` there, for core and module tools alike.
Kept as a name for the modules that register their tools through it.
"""

from __future__ import annotations

from butlers.core.tool_edge import add_tools as add_tools
