"""`oggy audit list`: admin changes, newest first (secrets never appear in them)."""

from __future__ import annotations

from controlplane.cli import output
from controlplane.cli.commands.common import check_limit, list_up_to
from controlplane.cli.commands.group import CommandGroup
from controlplane.cli.context import Context
from oggy.v1 import admin_service_pb2

COLUMNS: list[output.Column] = [
    ("time", lambda e: output.fmt_time(e.time)),
    ("principal", lambda e: e.principal),
    ("method", lambda e: e.method),
    ("resource", lambda e: e.resource),
    ("request id", lambda e: e.request_id),
]


NOUN = "audit"
SUMMARY = "who changed what through the admin API"


def register(group: CommandGroup) -> None:
    list_p = group.action("list", list_events, "audit events, newest first")
    list_p.add_argument("--limit", type=int, default=50, help="at most N events (default 50)")
    list_p.add_argument(
        "--all-workspaces", action="store_true", help="every workspace and global changes"
    )


def list_events(ctx: Context) -> int:
    limit = check_limit(ctx.args.limit)
    parent = "" if ctx.args.all_workspaces else ctx.workspace
    request = admin_service_pb2.ListAuditEventsRequest(parent=parent)
    items = list_up_to(ctx.client.stub.ListAuditEvents, request, "audit_events", limit)
    columns = COLUMNS
    if not ctx.args.all_workspaces:
        # Inside one workspace the prefix is noise: `keys/k…` reads better.
        prefix = f"{ctx.workspace}/"
        relative: output.Column = ("resource", lambda e: e.resource.removeprefix(prefix))
        columns = [relative if c[0] == "resource" else c for c in COLUMNS]
    output.emit(ctx.format, items, columns)
    return 0
