"""What a spawned Claude Code session may see: its environment and its tools.

The SDK (claude-agent-sdk 0.2.187) starts the CLI with the daemon's whole
``os.environ`` merged under ``ClaudeAgentOptions.env``; there is no option to
turn that off. So the CLI is started through a small launcher script
(``cli_path``) that ``exec``s ``env -i`` with only the names we chose: every
other variable of the daemon (secrets of other butlers included) is dropped
before Claude Code runs. The script holds names only, never values.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from claude_agent_sdk.types import McpHttpServerConfig


MODEL_CREDENTIALS = ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN")
# Endpoint settings the daemon was given are passed on so proxies and the
# test stand-in work; the retry/timeout knobs let operators bound API waits.
MODEL_ENDPOINT = ("ANTHROPIC_BASE_URL", "CLAUDE_CODE_MAX_RETRIES", "API_TIMEOUT_MS")

# Built-in tools are already absent (tools=[]); disallowing them by name as
# well means a future CLI default cannot bring one back unnoticed.
BUILTIN_TOOLS = (
    "Agent", "Bash", "BashOutput", "Edit", "ExitPlanMode", "Glob", "Grep", "KillShell",
    "ListMcpResourcesTool", "MultiEdit", "NotebookEdit", "Read", "ReadMcpResourceTool",
    "Skill", "SlashCommand", "Task", "TodoWrite", "WebFetch", "WebSearch", "Write",
)  # fmt: skip
# A session must not start further sessions of its own butler (unbounded
# recursion, budget burn) nor cancel others.
SELF_EXCLUDED_TOOLS = ("trigger", "session_cancel", "schedule_run")
# The switchboard's routing tools (issue 11): no agent but the switchboard's own may move work between butlers.
ROUTING_TOOLS = ("route", "dispatch", "reroute")
# A person decides held actions, never an agent: offered to no session (the
# butler's HTTP guard also refuses them to a session's credential).
PERSON_ONLY_TOOLS = ("approval_approve", "approval_reject")

# Set by the SDK's transport itself; they must survive `env -i`.
_SDK_SET = ("CLAUDE_AGENT_SDK_VERSION", "PWD")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PATH = "/usr/local/bin:/usr/bin:/bin"


def model_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The model credential and endpoint settings the daemon was given."""
    env = os.environ if environ is None else environ
    return {n: env[n] for n in (*MODEL_CREDENTIALS, *MODEL_ENDPOINT) if env.get(n)}


def has_model_credential(credentials: Mapping[str, str]) -> bool:
    return any(credentials.get(n) for n in MODEL_CREDENTIALS)


def agent_home(data_dir: Path, butler: str) -> Path:
    return data_dir / "agents" / butler / "home"


def child_env(credentials: Mapping[str, str], home: Path, traceparent: str | None) -> dict[str, str]:
    """The complete environment of one session's CLI process."""
    env = {
        "PATH": _PATH,
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "TMPDIR": str(home / "tmp"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "LC_ALL": os.environ.get("LC_ALL", "C.UTF-8"),
        # Offline-safe and truthful cost: no title request, no telemetry.
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        # Otherwise the CLI offers a DeferredToolPlaceholder tool.
        "ENABLE_TOOL_SEARCH": "false",
        # Normally set by the SDK; set here so the launcher's name list is complete.
        "CLAUDE_CODE_ENTRYPOINT": "sdk-py",
        "CLAUDE_CODE_SDK_READS_SESSION_STATE": "1",
        **credentials,
    }
    if traceparent:
        env["TRACEPARENT"] = traceparent
    return env


def prepare_home(home: Path) -> None:
    (home / ".claude").mkdir(parents=True, exist_ok=True)
    (home / "tmp").mkdir(parents=True, exist_ok=True)


def launcher(directory: Path, names: Iterable[str], cli: str) -> Path:
    """A script that runs `cli` with only the variables `names` (content-addressed)."""
    keep = sorted({*names, *_SDK_SET})
    bad = [n for n in keep if not _NAME.match(n)]
    if bad:
        raise ValueError(f"not valid environment variable names: {bad}")
    env_bin = shutil.which("env") or "/usr/bin/env"
    assigns = " ".join(f'{n}="${{{n}}}"' for n in keep)
    guard = _pdeathsig_prefix()
    comment = "only these variables" + ("; it dies with the daemon" if guard else "")
    text = f'#!/bin/sh\n# Written by butlers: Claude Code sees {comment}.\nexec {env_bin} -i {assigns} {guard}{_quote(cli)} "$@"\n'
    path = directory / f"claude-{hashlib.sha256(text.encode()).hexdigest()[:16]}.sh"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(text)
        tmp.chmod(0o700)
        tmp.replace(path)  # atomic: a concurrent session never runs a half-written script
    return path


@functools.cache
def _pdeathsig_prefix() -> str:
    """`setpriv --pdeathsig KILL -- ` where available (Linux util-linux), else nothing.

    If the daemon is killed outright, an orphaned CLI would go on calling the
    butler's tools after a restart has marked its session interrupted; the
    kernel's parent-death signal stops it with its parent.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return ""
    try:
        out = subprocess.run([setpriv, "--help"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{setpriv} --pdeathsig KILL -- " if "--pdeathsig" in out else ""


def bundled_cli() -> str:
    import claude_agent_sdk

    path = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
    found = str(path) if path.is_file() else shutil.which("claude")
    if not found:
        raise FileNotFoundError("Claude Code CLI not found (neither bundled with claude-agent-sdk nor on PATH)")
    return found


def _quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def allowed_tools(butler: str) -> list[str]:
    # The server-level rule allows every tool of this butler's MCP server and
    # nothing else; with permission mode dontAsk anything else is denied.
    return [f"mcp__{butler}"]


def mcp_server_config(url: str, traceparent: str | None) -> McpHttpServerConfig:
    """The agent's only MCP server: its own butler.

    Claude Code does not carry the TRACEPARENT it is given into its MCP calls
    (tested: tests/integration/test_observability.py), so the session's trace
    context rides along as a W3C `traceparent` HTTP header on every request; the
    butler joins the agent's tool calls to the session with it (telemetry.SessionTraceLink).
    """
    config: McpHttpServerConfig = {"type": "http", "url": url}
    if traceparent:
        config["headers"] = {"traceparent": traceparent}
    return config


def disallowed_tools(butler: str, *, routes: bool = False) -> list[str]:
    """`routes`: this butler is a switchboard (hosts the `switchboard` module) and may keep ROUTING_TOOLS."""
    routing = () if routes else ROUTING_TOOLS
    withheld = (*SELF_EXCLUDED_TOOLS, *PERSON_ONLY_TOOLS, *routing)
    return [*BUILTIN_TOOLS, *(f"mcp__{butler}__{t}" for t in withheld)]
