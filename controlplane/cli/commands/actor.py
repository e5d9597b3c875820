"""`oggy actor create|list|disable|enable`: who requests are attributed to."""

from __future__ import annotations

from google.protobuf.field_mask_pb2 import FieldMask

from controlplane.cli import names, output
from controlplane.cli.admin_client import list_all
from controlplane.cli.commands import common
from controlplane.cli.commands.common import request_id
from controlplane.cli.commands.group import CommandGroup
from controlplane.cli.context import Context
from oggy.v1 import actor_pb2, admin_service_pb2

Kind = actor_pb2.Actor.Kind
KINDS = common.kind_choices(Kind)


def kind_label(kind: int) -> str:
    return common.kind_label(Kind, kind)


COLUMNS: list[output.Column] = [
    ("id", lambda a: names.short_id(a.name)),
    ("kind", lambda a: kind_label(a.kind)),
    ("display name", lambda a: a.display_name),
    ("teams", lambda a: [names.short_id(t) for t in a.teams]),
    ("state", lambda a: "disabled" if a.disabled else "active"),
    ("created", lambda a: output.fmt_time(a.create_time)),
]


NOUN = "actor"
SUMMARY = "create, list, disable and enable actors"


def register(group: CommandGroup) -> None:

    create_p = group.action("create", create, "create an actor")
    create_p.add_argument("actor", metavar="NAME", help="actor id, e.g. alice or ml-team")
    create_p.add_argument("--kind", choices=list(KINDS), required=True)
    create_p.add_argument(
        "--team",
        dest="teams",
        action="append",
        default=[],
        metavar="TEAM",
        help="a team (actor of kind team) this actor belongs to; repeat for more",
    )
    create_p.add_argument("--display-name", default="")

    group.action("list", list_actors, "list actors")

    for action, handler, text in (
        ("disable", disable, "disable an actor (its keys and tokens stop working)"),
        ("enable", enable, "enable a disabled actor"),
    ):
        p = group.action(action, handler, text)
        p.add_argument("actor", metavar="NAME", help="actor id or full name")


def create(ctx: Context) -> int:
    args = ctx.args
    name = names.child_name(ctx.workspace, "actors", args.actor)
    actor = actor_pb2.Actor(
        display_name=args.display_name,
        kind=KINDS[args.kind],
        teams=[names.child_name(ctx.workspace, "actors", t) for t in args.teams],
    )
    request = admin_service_pb2.CreateActorRequest(
        parent=ctx.workspace, actor_id=names.short_id(name), actor=actor, request_id=request_id()
    )
    response = ctx.client.stub.CreateActor(request)
    output.emit_one(ctx.format, response.actor, COLUMNS)
    return 0


def list_actors(ctx: Context) -> int:
    request = admin_service_pb2.ListActorsRequest(parent=ctx.workspace)
    output.emit(ctx.format, list_all(ctx.client.stub.ListActors, request, "actors"), COLUMNS)
    return 0


def set_disabled(ctx: Context, disabled: bool) -> int:
    name = names.child_name(ctx.workspace, "actors", ctx.args.actor)
    request = admin_service_pb2.UpdateActorRequest(
        actor=actor_pb2.Actor(name=name, disabled=disabled),
        update_mask=FieldMask(paths=["disabled"]),
    )
    response = ctx.client.stub.UpdateActor(request)
    output.emit_one(ctx.format, response.actor, COLUMNS)
    return 0


def disable(ctx: Context) -> int:
    return set_disabled(ctx, True)


def enable(ctx: Context) -> int:
    return set_disabled(ctx, False)
