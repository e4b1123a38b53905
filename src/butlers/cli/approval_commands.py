"""`butlerctl approvals`: list, approve and reject the actions a butler holds for approval."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from butlers.cli.choices import one_of
from butlers.cli.common import fail
from butlers.cli.options import NameArgument
from butlers.cli.output import SHORT_ID, first_line, format_time, indent
from butlers.cli.remote import IdLookup, Remote, remote_command
from butlers.statuses import ApprovalStatus

approvals_app = typer.Typer(
    name="approvals",
    help="Decide the actions a butler holds for approval (mail to send, messages, events): "
    "list them, approve one (it runs once) or reject one (it never runs).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

ApprovalIdArgument = Annotated[
    str, typer.Argument(metavar="ID", help="The approval id, or the start of it as `butlerctl approvals list` shows.")
]
APPROVE_TIMEOUT_S = 120.0  # approving runs the action (sending mail...) before the butler answers
APPROVALS = IdLookup("approvals_list", {"status": "all", "limit": 500}, "approvals", "no approval", "approval_id")


@approvals_app.command("list")
@remote_command
def approvals_list(
    name: NameArgument,
    status_filter: Annotated[
        str,
        typer.Option(
            "--status", help="Only approvals in this status.", show_default=True, **one_of(ApprovalStatus, ["all"])
        ),
    ] = "pending",
    *,
    remote: Remote,
) -> None:
    """List butler NAME's actions held for approval, newest first: id, status, action, created, summary."""
    answer = remote.ask(name, "approvals_list", {"status": status_filter})
    none = f"No {'' if status_filter == 'all' else status_filter + ' '}approvals of {name}."
    remote.table(answer, "approvals", none, ("ID", "STATUS", "ACTION", "CREATED", "SUMMARY"), _row)


def _row(r: dict[str, Any]) -> tuple[str, ...]:
    return (str(r.get("id", ""))[:SHORT_ID], str(r.get("status") or "-"), str(r.get("action") or "-"),
            format_time(r.get("created_at")), first_line(r.get("summary"), 80))  # fmt: skip


def print_approval(record: dict[str, Any]) -> None:
    typer.echo(f"approval {record.get('id')}  {record.get('status')}  {record.get('action')}")
    if record.get("summary"):
        typer.echo(f"  {first_line(record['summary'], 100)}")
    if record.get("result") is not None:
        typer.echo(indent("result: " + json.dumps(record["result"], default=str)))
    for key in ("error", "reason"):
        if record.get(key):
            typer.echo(indent(f"{key}: {record[key]}"))


@approvals_app.command("approve")
@remote_command
def approvals_approve(name: NameArgument, approval_id: ApprovalIdArgument, *, remote: Remote) -> None:
    """Approve a pending action of butler NAME: it runs now, once; print its outcome.

    Approving one already decided runs nothing and shows it. Exit 1 unless
    the action ran and succeeded.
    """
    aid, record = remote.ask_about(name, APPROVALS, approval_id, "approval_approve", timeout=APPROVE_TIMEOUT_S)
    remote.show(record, print_approval)
    if record.get("status") != "succeeded":
        fail(f"approval {aid} is {record.get('status')}: {record.get('error') or record.get('reason') or '-'}")


@approvals_app.command("reject")
@remote_command
def approvals_reject(
    name: NameArgument,
    approval_id: ApprovalIdArgument,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why, recorded with the rejection.", show_default=False)
    ] = None,
    *,
    remote: Remote,
) -> None:
    """Reject a pending action of butler NAME: it never runs.

    Exit 1 when it was already decided (it is left as it was).
    """
    args = {} if reason is None else {"reason": reason}
    aid, record = remote.ask_about(name, APPROVALS, approval_id, "approval_reject", args)
    remote.show(record, print_approval)
    if record.get("status") != "rejected":
        fail(f"approval {aid} is {record.get('status')}, not rejected")
