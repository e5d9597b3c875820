"""`oggy workspace create|list`."""

from __future__ import annotations

import argparse
import uuid

from controlplane.cli import names, output
from controlplane.cli.admin_client import list_all
from controlplane.cli.context import Context
from oggy.v1 import admin_service_pb2, workspace_pb2

COLUMNS: list[output.Column] = [
    ("id", lambda w: names.short_id(w.name)),
    ("name", lambda w: w.name),
    ("display name", lambda w: w.display_name),
    ("created", lambda w: output.fmt_time(w.create_time)),
]


def register(
    sub: argparse._SubParsersAction,
    common: argparse.ArgumentParser,
    scoped: argparse.ArgumentParser,
) -> None:
    parser = sub.add_parser("workspace", help="create and list workspaces")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create_p = actions.add_parser("create", parents=[common], help="create a workspace")
    create_p.add_argument("workspace", metavar="WORKSPACE", help="id like 'demo' (or full name)")
    create_p.add_argument("--display-name", default="")
    create_p.set_defaults(handler=create)
    list_p = actions.add_parser("list", parents=[common], help="list workspaces")
    list_p.set_defaults(handler=list_workspaces)


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
