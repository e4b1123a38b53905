"""`butlerctl inbound`: the messages the switchboard received, where they went, retry and reroute."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from butlers.cli.choices import one_of
from butlers.cli.common import ask, butler_address, call_dict, fail, resolve_id
from butlers.cli.options import DirOption, HostOption, JsonOption
from butlers.cli.output import SHORT_ID, first_line, format_time, indent, listed, print_table, show
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


def _resolve(host: str, port: int, given: str) -> str:
    return resolve_id(host, port, given, "inbound_list", {"limit": 500}, "messages", "no message")


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
def inbound_list(
    status_filter: Annotated[
        str | None, typer.Option("--status", help="Only this status.", show_default=False, **one_of(InboundStatus))
    ] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel.", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="At most this many.")] = 50,
    switchboard: SwitchboardOption = "switchboard",
    as_json: JsonOption = False,
    directory: DirOption = None,
    host: HostOption = None,
) -> None:
    """List received messages, newest first: id, status, channel, received, sender, text."""
    args: dict[str, Any] = {"limit": limit, "status": status_filter, "channel": channel}
    answer = ask(directory, switchboard, host, "inbound_list", args)
    rows = listed(answer, as_json, "messages", "No messages.")
    if not rows:
        return
    table = [("ID", "STATUS", "CHANNEL", "RECEIVED", "SENDER", "TEXT")]
    table += [(str(r["id"])[:SHORT_ID], str(r["status"]), str(r["channel"]), format_time(r.get("received_at")),
               first_line(r.get("sender"), 30), first_line(r.get("text"), 60)) for r in rows]  # fmt: skip
    print_table(table)


@inbound_app.command("show")
def inbound_show(
    inbound_id: InboundIdArgument,
    switchboard: SwitchboardOption = "switchboard",
    as_json: JsonOption = False,
    directory: DirOption = None,
    host: HostOption = None,
) -> None:
    """Show one message and every routing decision about it: butler, reason, session, error."""
    address, port = butler_address(directory, switchboard, host)
    mid = _resolve(address, port, inbound_id)
    show(call_dict(address, port, "inbound_get", {"inbound_id": mid}), as_json, _print_message)


@inbound_app.command("retry")
def inbound_retry(
    inbound_id: InboundIdArgument,
    switchboard: SwitchboardOption = "switchboard",
    as_json: JsonOption = False,
    directory: DirOption = None,
    host: HostOption = None,
) -> None:
    """Dispatch a failed message again: only the parts that failed (anew if none succeeded). Exit 1 unless dispatched."""
    address, port = butler_address(directory, switchboard, host)
    mid = _resolve(address, port, inbound_id)
    record = call_dict(address, port, "inbound_retry", {"inbound_id": mid})
    show(record, as_json, _print_message)
    if record.get("status") not in ("dispatched", "handled"):
        fail(f"message {mid} is {record.get('status')}: {record.get('error') or '-'}")


@inbound_app.command("reroute")
def inbound_reroute(
    inbound_id: InboundIdArgument,
    butler: Annotated[str, typer.Argument(metavar="BUTLER", help="The butler that should have had it.")],
    switchboard: SwitchboardOption = "switchboard",
    as_json: JsonOption = False,
    directory: DirOption = None,
    host: HostOption = None,
) -> None:
    """Send a message again, whole, to BUTLER; the correction is kept in the routing log."""
    address, port = butler_address(directory, switchboard, host)
    mid = _resolve(address, port, inbound_id)
    show(call_dict(address, port, "reroute", {"inbound_id": mid, "butler": butler}), as_json, _print_message)
