"""`butlerctl inbound`: the messages the switchboard received, where they went, retry and reroute."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from butlers.cli.choices import one_of
from butlers.cli.common import fail
from butlers.cli.output import SHORT_ID, first_line, format_time, indent
from butlers.cli.remote import IdLookup, Remote, remote_command
from butlers.statuses import InboundStatus

inbound_app = typer.Typer(
    name="inbound",
    help="Messages that reached the switchboard (Telegram, email, dispatch): list them, show where each "
    "went and why, retry a failed one, or send one to another butler.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

SwitchboardOption = Annotated[
    str, typer.Option("--switchboard", help="The butler that hosts the switchboard module.", show_default=True)
]
InboundIdArgument = Annotated[
    str, typer.Argument(metavar="ID", help="The message id, or the start of it as `butlerctl inbound list` shows.")
]


MESSAGES = IdLookup("inbound_list", {"limit": 500}, "messages", "no message", "inbound_id")


def _print_message(record: dict[str, Any]) -> None:
    typer.echo(f"message {record.get('id') or record.get('inbound_id')}  {record.get('status')}")
    for key in ("channel", "sender", "subject", "received_at", "error"):
        if record.get(key):
            typer.echo(indent(f"{key}: {record[key]}"))
    if record.get("text"):
        typer.echo(indent("text: " + first_line(record["text"], 200)))
    routing = record.get("routing") or record.get("parts") or []
    for r in routing:
        text = r.get("part_text") or r.get("text") or ""
        typer.echo(indent(f"#{r.get('attempt')}.{r.get('part')} -> {r.get('butler')}  {r.get('status')}  "
                          f"{r.get('reason_kind')}: {r.get('reason')}"))  # fmt: skip
        typer.echo(indent(f"session {r.get('session_id') or '-'}  {first_line(text, 80)}", 4))
        if r.get("error"):
            typer.echo(indent(f"error: {r['error']}", 4))


@inbound_app.command("list")
@remote_command
def inbound_list(
    status_filter: Annotated[
        str | None, typer.Option("--status", help="Only this status.", show_default=False, **one_of(InboundStatus))
    ] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel.", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="At most this many.")] = 50,
    switchboard: SwitchboardOption = "switchboard",
    *,
    remote: Remote,
) -> None:
    """List received messages, newest first: id, status, channel, received, sender, text."""
    args: dict[str, Any] = {"limit": limit, "status": status_filter, "channel": channel}
    columns = ("ID", "STATUS", "CHANNEL", "RECEIVED", "SENDER", "TEXT")
    remote.table(remote.ask(switchboard, "inbound_list", args), "messages", "No messages.", columns, _row)


def _row(r: dict[str, Any]) -> tuple[str, ...]:
    return (str(r["id"])[:SHORT_ID], str(r["status"]), str(r["channel"]), format_time(r.get("received_at")),
            first_line(r.get("sender"), 30), first_line(r.get("text"), 60))  # fmt: skip


@inbound_app.command("show")
@remote_command
def inbound_show(
    inbound_id: InboundIdArgument, switchboard: SwitchboardOption = "switchboard", *, remote: Remote
) -> None:
    """Show one message and every routing decision about it: butler, reason, session, error."""
    remote.show(remote.ask_about(switchboard, MESSAGES, inbound_id, "inbound_get")[1], _print_message)


@inbound_app.command("retry")
@remote_command
def inbound_retry(
    inbound_id: InboundIdArgument, switchboard: SwitchboardOption = "switchboard", *, remote: Remote
) -> None:
    """Dispatch a failed message again: only the parts that failed (anew if none succeeded). Exit 1 unless dispatched."""
    mid, record = remote.ask_about(switchboard, MESSAGES, inbound_id, "inbound_retry")
    remote.show(record, _print_message)
    if record.get("status") not in ("dispatched", "handled"):
        fail(f"message {mid} is {record.get('status')}: {record.get('error') or '-'}")


@inbound_app.command("reroute")
@remote_command
def inbound_reroute(
    inbound_id: InboundIdArgument,
    butler: Annotated[str, typer.Argument(metavar="BUTLER", help="The butler that should have had it.")],
    switchboard: SwitchboardOption = "switchboard",
    *,
    remote: Remote,
) -> None:
    """Send a message again, whole, to BUTLER; the correction is kept in the routing log."""
    remote.show(remote.ask_about(switchboard, MESSAGES, inbound_id, "reroute", {"butler": butler})[1], _print_message)
