"""`oggy workspace create|list`."""

from __future__ import annotations

import uuid

from controlplane.cli import names, output
from controlplane.cli.admin_client import list_all
from controlplane.cli.commands.group import CommandGroup
from controlplane.cli.context import Context
from oggy.v1 import admin_service_pb2, workspace_pb2

COLUMNS: list[output.Column] = [
    ("id", lambda w: names.short_id(w.name)),
    ("name", lambda w: w.name),
    ("display name", lambda w: w.display_name),
    ("created", lambda w: output.fmt_time(w.create_time)),
]


NOUN = "workspace"
SUMMARY = "create and list workspaces"


def register(group: CommandGroup) -> None:
    create_p = group.action("create", create, "create a workspace", scoped=False)
    create_p.add_argument("workspace", metavar="WORKSPACE", help="id like 'demo' (or full name)")
    create_p.add_argument("--display-name", default="")
    group.action("list", list_workspaces, "list workspaces", scoped=False)


def create(ctx: Context) -> int:
    name = names.workspace_name(ctx.args.workspace)
    request = admin_service_pb2.CreateWorkspaceRequest(
        workspace_id=names.short_id(name),
        workspace=workspace_pb2.Workspace(display_name=ctx.args.display_name),
        request_id=str(uuid.uuid4()),
    )
    response = ctx.client.stub.CreateWorkspace(request)
    output.emit_one(ctx.format, response.workspace, COLUMNS)
    return 0


def list_workspaces(ctx: Context) -> int:
    items = list_all(
        ctx.client.stub.ListWorkspaces, admin_service_pb2.ListWorkspacesRequest(), "workspaces"
    )
    output.emit(ctx.format, items, COLUMNS)
    return 0
