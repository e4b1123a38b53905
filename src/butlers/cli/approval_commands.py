"""`butlerctl approvals`: list, approve and reject the actions a butler holds for approval."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from butlers.cli.choices import one_of
from butlers.cli.common import ask, butler_address, call_dict, fail, resolve_id
from butlers.cli.options import DirOption, HostOption, JsonOption, NameArgument
from butlers.cli.output import SHORT_ID, first_line, format_time, indent, listed, print_table, show
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


def resolve_approval_id(host: str, port: int, approval_id: str) -> str:
    args = {"status": "all", "limit": 500}
    return resolve_id(host, port, approval_id, "approvals_list", args, "approvals", "no approval")


@approvals_app.command("list")
def approvals_list(
    name: NameArgument,
    status_filter: Annotated[
        str,
        typer.Option(
            "--status", help="Only approvals in this status.", show_default=True, **one_of(ApprovalStatus, ["all"])
        ),
    ] = "pending",
    as_json: JsonOption = False,
    directory: DirOption = None,
    host: HostOption = None,
) -> None:
    """List butler NAME's actions held for approval, newest first: id, status, action, created, summary."""
    answer = ask(directory, name, host, "approvals_list", {"status": status_filter})
    rows = listed(
        answer, as_json, "approvals", f"No {'' if status_filter == 'all' else status_filter + ' '}approvals of {name}."
    )
    if not rows:
        return
    table = [("ID", "STATUS", "ACTION", "CREATED", "SUMMARY")]
    table += [
        (str(r.get("id", ""))[:SHORT_ID], str(r.get("status") or "-"), str(r.get("action") or "-"),
         format_time(r.get("created_at")), first_line(r.get("summary"), 80))
        for r in rows
    ]  # fmt: skip
    print_table(table)


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
def approvals_approve(
    name: NameArgument,
    approval_id: ApprovalIdArgument,
    as_json: JsonOption = False,
    directory: DirOption = None,
    host: HostOption = None,
) -> None:
    """Approve a pending action of butler NAME: it runs now, once; print its outcome.

    Approving one already decided runs nothing and shows it. Exit 1 unless
    the action ran and succeeded.
    """
    address, port = butler_address(directory, name, host)
    aid = resolve_approval_id(address, port, approval_id)
    record = call_dict(address, port, "approval_approve", {"approval_id": aid}, APPROVE_TIMEOUT_S)
    show(record, as_json, print_approval)
    if record.get("status") != "succeeded":
        fail(f"approval {aid} is {record.get('status')}: {record.get('error') or record.get('reason') or '-'}")


@approvals_app.command("reject")
def approvals_reject(
    name: NameArgument,
    approval_id: ApprovalIdArgument,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why, recorded with the rejection.", show_default=False)
    ] = None,
    as_json: JsonOption = False,
    directory: DirOption = None,
    host: HostOption = None,
) -> None:
    """Reject a pending action of butler NAME: it never runs.

    Exit 1 when it was already decided (it is left as it was).
    """
    address, port = butler_address(directory, name, host)
    aid = resolve_approval_id(address, port, approval_id)
    args: dict[str, Any] = {"approval_id": aid}
    if reason is not None:
        args["reason"] = reason
    record = call_dict(address, port, "approval_reject", args)
    show(record, as_json, print_approval)
    if record.get("status") != "rejected":
        fail(f"approval {aid} is {record.get('status')}, not rejected")
