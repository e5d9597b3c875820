"""`oggy route create|list|delete`: a model name (or alias) → ordered provider targets.

    oggy route create gpt-fast --target openai:gpt-4o-mini azure:gpt-4o-mini-eu

The first target serves; later ones take over when an earlier one answers 429 or 5xx or
times out before any byte reached the client.
"""

from __future__ import annotations

import re

from controlplane.cli import names, output
from controlplane.cli.admin_client import list_all
from controlplane.cli.commands.common import print_deleted, request_id
from controlplane.cli.commands.group import CommandGroup
from controlplane.cli.context import Context
from controlplane.cli.errors import CliError
from oggy.v1 import admin_service_pb2, route_pb2


def targets_label(route: route_pb2.Route) -> str:
    parts = []
    for t in route.targets:
        provider = names.short_id(t.provider)
        parts.append(f"{provider}:{t.model}" if t.model else provider)
    return " > ".join(parts)


COLUMNS: list[output.Column] = [
    ("id", lambda r: names.short_id(r.name)),
    ("model", lambda r: r.model),
    ("targets", targets_label),
    ("created", lambda r: output.fmt_time(r.create_time)),
]


def route_id(alias: str) -> str:
    """A route id from the alias: `gpt-fast` stays, `Claude-3.5` → `claude-3-5`."""
    slug = re.sub(r"[^a-z0-9]+", "-", alias.lower()).strip("-")
    if not slug or not slug[0].isalpha():
        slug = f"r-{slug}".rstrip("-")
    return slug[:63].rstrip("-")


def parse_target(workspace: str, text: str) -> route_pb2.RouteTarget:
    """`PROVIDER[:MODEL]`; the model may itself contain `:` (`ollama:llama3:8b`)."""
    provider, _, model = text.partition(":")
    if not provider:
        raise CliError(f"invalid --target {text!r}: expected PROVIDER[:MODEL]")
    return route_pb2.RouteTarget(
        provider=names.child_name(workspace, "providers", provider), model=model
    )


NOUN = "route"
SUMMARY = "create, list and delete model routes (fallbacks)"


def register(group: CommandGroup) -> None:

    create_p = group.action("create", create, "route a model name to ordered targets")
    create_p.add_argument("alias", metavar="ALIAS", help="the model name clients ask for")
    create_p.add_argument(
        "--target",
        dest="targets",
        nargs="+",
        action="extend",
        required=True,
        metavar="PROVIDER[:MODEL]",
        help="in fallback order; MODEL defaults to the requested name",
    )
    create_p.add_argument("--id", dest="route_id", help="route id (default: from the alias)")

    group.action("list", list_routes, "list routes")

    delete_p = group.action("delete", delete, "delete a route")
    delete_p.add_argument("route", metavar="ROUTE", help="the alias, route id or full name")


def create(ctx: Context) -> int:
    args = ctx.args
    resource_id = args.route_id or route_id(args.alias)
    name = names.child_name(ctx.workspace, "routes", resource_id)
    route = route_pb2.Route(
        model=args.alias, targets=[parse_target(ctx.workspace, t) for t in args.targets]
    )
    request = admin_service_pb2.CreateRouteRequest(
        parent=ctx.workspace, route_id=names.short_id(name), route=route, request_id=request_id()
    )
    response = ctx.client.stub.CreateRoute(request)
    output.emit_one(ctx.format, response.route, COLUMNS)
    return 0


def _all(ctx: Context) -> list[route_pb2.Route]:
    request = admin_service_pb2.ListRoutesRequest(parent=ctx.workspace)
    return list_all(ctx.client.stub.ListRoutes, request, "routes")


def list_routes(ctx: Context) -> int:
    output.emit(ctx.format, _all(ctx), COLUMNS)
    return 0


def delete(ctx: Context) -> int:
    value = ctx.args.route
    if "/" in value:
        name = names.child_name(ctx.workspace, "routes", value)
    else:
        # An alias is what users remember: find the route serving it, else take an id.
        by_model = [r.name for r in _all(ctx) if r.model == value]
        name = by_model[0] if by_model else names.child_name(ctx.workspace, "routes", value)
    ctx.client.stub.DeleteRoute(admin_service_pb2.DeleteRouteRequest(name=name))
    print_deleted(ctx, name)
    return 0
