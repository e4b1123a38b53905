"""`butlerctl trigger`, `sessions`, `session` and `cancel`: start, list, show and cancel a butler's agent sessions."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

import anyio
import typer

from butlers.cli.choices import one_of
from butlers.cli.client import ToolError, call_tool
from butlers.cli.common import CALL_TIMEOUT_S, answer_dict, call_dict, fail
from butlers.cli.options import NameArgument
from butlers.cli.output import SHORT_ID, echo_json, first_line, format_time, indent, show
from butlers.cli.remote import IdLookup, Remote, remote_command
from butlers.errors import DaemonUnreachableError
from butlers.statuses import SessionStatus, TriggerSource

SessionIdArgument = Annotated[
    str,
    typer.Argument(
        metavar="ID", help="The session id, or the start of it as `butlerctl sessions` shows (newest 200 searched)."
    ),
]
WAIT_TIMEOUT_S = 900.0  # longer than the default per-session timeout (600 s)
WAIT_GRACE_S = 15.0  # the MCP call outlives the wait by this much
RECENT = IdLookup("sessions_list", {"limit": 200}, "sessions", "no recent session", "session_id")


def register(app: typer.Typer) -> None:
    """Add trigger, sessions, session and cancel to `app`, in that order."""
    app.command("trigger")(trigger)
    app.command("sessions")(sessions)
    app.command("session")(session)
    app.command("cancel")(cancel)


def format_duration(ms: Any) -> str:
    if not isinstance(ms, int | float):
        return "-"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def format_cost(cost: Any) -> str:
    return f"${cost:.4f}" if isinstance(cost, int | float) else "-"


@remote_command
def trigger(
    name: NameArgument,
    prompt: Annotated[str, typer.Argument(metavar="PROMPT", help="What the butler's agent is asked to do.")],
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Wait for the session to end and print its result; exit 1 unless it succeeded."),
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0.1,
            help=f"Seconds to wait: with --wait for the session to end (default {WAIT_TIMEOUT_S:g}), "
            f"else for the butler to answer (default {CALL_TIMEOUT_S:g}).",
            show_default=False,
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            help="Same key, same session: a retry with it does not start a second one. "
            "With --wait and no key, one is generated so a wait that times out can still name its session.",
            show_default=False,
        ),
    ] = None,
    *,
    remote: Remote,
) -> None:
    """Start an agent session of butler NAME with PROMPT; print its session id and status.

    With --wait, also print the result (or error), cost and duration; exit 1
    when the session did not succeed or did not end within --timeout (it
    keeps running on the butler).
    """
    address, port = remote.address(name)
    if wait:
        _trigger_and_wait(name, address, port, prompt, timeout or WAIT_TIMEOUT_S, idempotency_key, remote.as_json)
        return
    args: dict[str, Any] = {"prompt": prompt, "wait": False}
    if idempotency_key is not None:
        args["idempotency_key"] = idempotency_key
    answer = call_dict(address, port, "trigger", args, timeout or CALL_TIMEOUT_S)
    again = "" if answer.get("created", True) else "  (existing session with this idempotency key)"
    remote.show(answer, f"session {answer.get('session_id')}  {answer.get('status')}{again}")


def _trigger_and_wait(
    name: str, address: str, port: int, prompt: str, wait_s: float, idempotency_key: str | None, as_json: bool
) -> None:
    """`trigger --wait`: print the outcome; exit 1 unless the session succeeded within `wait_s`."""
    key = idempotency_key if idempotency_key is not None else f"butlerctl-{uuid.uuid4()}"
    args = {"prompt": prompt, "idempotency_key": key, "wait": True}
    record = anyio.run(wait_for_session, address, port, args, wait_s)
    if record is None:  # the wait ran out: the same key names the session without starting another
        late = call_dict(address, port, "trigger", {**args, "wait": False})
        if as_json:
            echo_json({**late, "timed_out_waiting": True})
        fail(
            f"session {late.get('session_id')} is still {late.get('status')} after {wait_s:g} s "
            f"(see `butlerctl session {name} {late.get('session_id')}`)"
        )
    show(record, as_json, print_outcome)
    if record.get("status") != "succeeded":
        fail(
            f"session {record.get('session_id', record.get('id'))} {record.get('status')}: {record.get('error') or '-'}"
        )


async def wait_for_session(host: str, port: int, args: dict[str, Any], wait_s: float) -> dict[str, Any] | None:
    """`trigger` with wait; None when the session has not ended within `wait_s` (the MCP call outlives it)."""
    with anyio.move_on_after(wait_s):
        try:
            answer = await call_tool(host, port, "trigger", args, wait_s + WAIT_GRACE_S)
        except DaemonUnreachableError as exc:
            fail(str(exc))
        except ToolError as exc:
            fail(f"trigger failed: {exc}")
        return answer_dict("trigger", answer)
    return None


def print_outcome(record: dict[str, Any]) -> None:
    typer.echo(f"session {record.get('session_id', record.get('id'))}  {record.get('status')}")
    if record.get("result"):
        typer.echo(str(record["result"]).rstrip())
    turns = record.get("num_turns")
    typer.echo(
        f"cost {format_cost(record.get('cost_usd'))}  duration {format_duration(record.get('duration_ms'))}"
        f"  turns {turns if turns is not None else '-'}"
    )


@remote_command
def sessions(
    name: NameArgument,
    status_filter: Annotated[
        str | None,
        typer.Option("--status", help="Only sessions in this status.", show_default=False, **one_of(SessionStatus)),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--source", help="Only sessions started this way.", show_default=False, **one_of(TriggerSource)),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only sessions queued at or after this ISO-8601 time; without a zone, this machine's.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=200, help="At most this many sessions, newest first.")
    ] = 20,
    *,
    remote: Remote,
) -> None:
    """List butler NAME's sessions, newest first: id, status, source, schedule, queued, duration, cost, prompt."""
    since_iso = _since(since)
    args: dict[str, Any] = {"limit": limit}
    for key, value in (("status", status_filter), ("source", source), ("since", since_iso)):
        if value is not None:
            args[key] = value
    answer = remote.ask(name, "sessions_list", args)
    none = f"No sessions of {name}{' matching' if len(args) > 1 else ''}."
    columns = ("ID", "STATUS", "SOURCE", "SCHEDULE", "QUEUED", "DURATION", "COST", "PROMPT")
    if remote.table(answer, "sessions", none, columns, _row) and answer.get("next_offset") is not None:
        typer.echo("(more: raise --limit or narrow with --since/--status)")


def _since(since: str | None) -> str | None:
    """`--since` as an ISO time with its offset (a time without a zone is this machine's); exit 2 if not one."""
    if since is None:
        return None
    try:
        return datetime.fromisoformat(since).astimezone().isoformat()
    except ValueError:
        raise typer.BadParameter(f"not an ISO-8601 time: {since!r}", param_hint="'--since'") from None


def _row(r: dict[str, Any]) -> tuple[str, ...]:
    return (str(r.get("id", ""))[:SHORT_ID], str(r.get("status") or "-"), str(r.get("trigger_source") or "-"),
            str(r.get("schedule_name") or "-"), format_time(r.get("queued_at")), format_duration(r.get("duration_ms")),
            format_cost(r.get("cost_usd")), first_line(r.get("prompt")))  # fmt: skip


@remote_command
def session(name: NameArgument, session_id: SessionIdArgument, *, remote: Remote) -> None:
    """Show one session of butler NAME in full: times, prompt, result, error, tokens, cost and every tool call."""
    remote.show(remote.ask_about(name, RECENT, session_id, "sessions_get")[1], print_session)


def print_session(r: dict[str, Any]) -> None:
    def line(label: str, value: Any) -> None:
        typer.echo(f"{label + ':':<10} {value if value not in (None, '') else '-'}")

    line("session", r.get("id"))
    line("status", r.get("status"))
    source = r.get("trigger_source")
    line("source", f"{source} ({r['schedule_name']})" if source and r.get("schedule_name") else source)
    line("queued", format_time(r.get("queued_at")))
    line("started", format_time(r.get("started_at")))
    line("finished", format_time(r.get("finished_at")))
    line("duration", format_duration(r.get("duration_ms")))
    line("model", r.get("model"))
    line("turns", r.get("num_turns"))
    tokens = ", ".join(f"{key} {r[f'{key}_tokens']}" for key in ("input", "output", "cache_read", "cache_creation")
                       if r.get(f"{key}_tokens") is not None)  # fmt: skip
    line("tokens", tokens)
    line("cost", format_cost(r.get("cost_usd")))
    line("trace", r.get("trace_id"))
    for label, key in (("prompt", "prompt"), ("context", "context"), ("result", "result"), ("error", "error")):
        value = r.get(key)
        if value in (None, ""):
            continue
        text = value if isinstance(value, str) else json.dumps(value, indent=2, default=str)
        typer.echo(f"\n{label}:")
        typer.echo(indent(text.rstrip()))
    calls = r.get("tool_calls") or []
    typer.echo(f"\ntool calls: {len(calls)}")
    for n, c in enumerate(calls, 1):
        typer.echo(f"  {n}. {c.get('tool')}")
        typer.echo(indent("arguments: " + json.dumps(c.get("arguments"), default=str), 5))
        if "error" in c:
            typer.echo(indent(f"error: {c['error']}", 5))
        elif "result" in c:
            typer.echo(indent(f"result: {c['result']}", 5))
        else:
            typer.echo(indent("no result recorded", 5))


@remote_command
def cancel(name: NameArgument, session_id: SessionIdArgument, *, remote: Remote) -> None:
    """Cancel a queued or running session of butler NAME (a running agent is killed).

    Exit 1 when the session had already ended otherwise, or is not yet stopped.
    """
    sid, record = remote.ask_about(name, RECENT, session_id, "session_cancel", timeout=30.0)
    state = record.get("status")
    remote.show_or_fail(
        record,
        f"session {sid}  cancelled",
        None if state == "cancelled" else f"session {sid} is {state}, not cancelled",
    )
