"""`butlerctl notifications`: list what the butlers asked to deliver, and retry a failed one.

Notifications live on the butler that delivers them (the switchboard, where the
`notify` module is enabled); `--butler` names another one.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from butlers.cli.choices import one_of
from butlers.cli.common import fail
from butlers.cli.output import SHORT_ID, first_line, format_time
from butlers.cli.remote import IdLookup, Remote, remote_command
from butlers.statuses import NotificationStatus

notifications_app = typer.Typer(
    name="notifications",
    help="Messages the butlers asked to deliver (notify, remind): list them with their delivery status "
    "(pending, sent, failed, held) and retry a failed one.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

RETRY_TIMEOUT_S = 300.0  # a retry sends, with the channel's backoff, before the butler answers
ButlerOption = Annotated[
    str, typer.Option("--butler", help="The butler that delivers (has [modules.notify]).", show_default=True)
]
IdArgument = Annotated[
    str, typer.Argument(metavar="ID", help="The notification id, or the start of it as `list` shows.")
]
FAILED = IdLookup(
    "notify_list", {"status": "failed", "limit": 500}, "notifications", "no failed notification", "notification_id"
)


@notifications_app.command("list")
@remote_command
def notifications_list(
    status_filter: Annotated[
        str,
        typer.Option("--status", help="Only this status.", show_default=True, **one_of(NotificationStatus, ["all"])),
    ] = "all",
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="At most this many, newest first.")] = 50,
    butler: ButlerOption = "switchboard",
    *,
    remote: Remote,
) -> None:
    """List notifications, newest first: id, status, channel, recipient, created, attempts, message or error."""
    args: dict[str, Any] = {"limit": limit, **({} if status_filter == "all" else {"status": status_filter})}
    none = f"No {'' if status_filter == 'all' else status_filter + ' '}notifications on {butler}."
    columns = ("ID", "STATUS", "CHANNEL", "TO", "CREATED", "TRIES", "MESSAGE")
    remote.table(remote.ask(butler, "notify_list", args), "notifications", none, columns, _row)


def _row(r: dict[str, Any]) -> tuple[str, ...]:
    return (str(r["id"])[:SHORT_ID], _status(r), str(r["channel"]), str(r["recipient"]),
            format_time(r.get("created_at")), str(r.get("attempts", 0)),
            first_line(r.get("error") if r.get("status") == "failed" else r.get("message"), 70))  # fmt: skip


def _print_outcome(record: dict[str, Any]) -> None:
    typer.echo(f"notification {record.get('id')}  {record.get('status')}  after {record.get('attempts')} tries")
    if record.get("error"):
        typer.echo(f"  error: {record['error']}")


def _status(row: dict[str, Any]) -> str:
    return f"held:{row['held_reason']}" if row.get("status") == "held" else str(row.get("status"))


@notifications_app.command("retry")
@remote_command
def notifications_retry(notification_id: IdArgument, butler: ButlerOption = "switchboard", *, remote: Remote) -> None:
    """Send a failed notification again; print its outcome. Exit 1 unless it was sent."""
    nid, record = remote.ask_about(butler, FAILED, notification_id, "notify_retry", timeout=RETRY_TIMEOUT_S)
    remote.show(record, _print_outcome)
    if record.get("status") != "sent":
        fail(f"notification {nid} is {record.get('status')}: {record.get('error') or '-'}")
