"""`oggy key create|list|rotate|revoke`: gateway keys of a workspace."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.cli import names, output, parsing
from controlplane.cli.commands.common import emit_all
from controlplane.cli.commands.group import CommandGroup
from controlplane.cli.context import Context
from oggy.v1 import admin_service_pb2, key_pb2


def _state(key: key_pb2.GatewayKey) -> str:
    return key_pb2.GatewayKey.State.Name(key.state).removeprefix("STATE_").lower()


COLUMNS: list[output.Column] = [
    ("id", lambda k: names.short_id(k.name)),
    ("prefix", lambda k: k.key_prefix),
    ("state", _state),
    ("actor", lambda k: names.short_id(k.actor) if k.actor else ""),
    ("display name", lambda k: k.display_name),
    ("created", lambda k: output.fmt_time(k.create_time)),
    ("expires", lambda k: output.fmt_time(k.expire_time)),
    ("last used", lambda k: output.fmt_time(k.last_used_time)),
    ("uses", lambda k: k.use_count),
]


NOUN = "key"
SUMMARY = "create, list, rotate and revoke gateway keys"


def register(group: CommandGroup) -> None:

    create_p = group.action("create", create, "create a key (its text is shown once)")
    create_p.add_argument("--id", dest="key_id", default="", help="key id (default: generated)")
    create_p.add_argument("--display-name", default="")
    create_p.add_argument("--actor", default="", help="bind the key to this actor (id or name)")
    create_p.add_argument("--environment", default="", help="key text label, e.g. live or test")
    create_p.add_argument("--expires-in", metavar="DURATION", help="e.g. 30d; default: never")

    group.action("list", list_keys, "list keys")

    rotate_p = group.action(
        "rotate", rotate, "issue a new secret (shown once); the old one works for --grace"
    )
    rotate_p.add_argument("key", metavar="KEY", help="key id, full name, or key prefix")
    rotate_p.add_argument(
        "--grace",
        required=True,
        metavar="DURATION",
        help="how long the old secret keeps working, e.g. 24h (0s: stop it now)",
    )

    revoke_p = group.action("revoke", revoke, "revoke a key")
    revoke_p.add_argument("key", metavar="KEY", help="key id, full name, or key prefix")


def create(ctx: Context) -> int:
    args = ctx.args
    key = key_pb2.GatewayKey(display_name=args.display_name, environment=args.environment)
    if args.actor:
        key.actor = names.child_name(ctx.workspace, "actors", args.actor)
    if args.expires_in:
        expire = datetime.now(UTC) + parsing.parse_duration(args.expires_in)
        key.expire_time.CopyFrom(_timestamp(expire))
    request = admin_service_pb2.CreateGatewayKeyRequest(
        parent=ctx.workspace, key_id=args.key_id, gateway_key=key, request_id=str(uuid.uuid4())
    )
    response = ctx.client.stub.CreateGatewayKey(request)
    if ctx.format == "json":
        output.write_json(output.to_dict(response))
        return 0
    columns = [*COLUMNS, ("key", lambda _: response.key_text)]
    output.emit_one(ctx.format, response.gateway_key, columns)
    print("This key is shown once: store it now.", file=sys.stderr)
    return 0


def list_keys(ctx: Context) -> int:
    request = admin_service_pb2.ListGatewayKeysRequest(parent=ctx.workspace)
    return emit_all(ctx, ctx.client.stub.ListGatewayKeys, request, "gateway_keys", COLUMNS)


def rotate(ctx: Context) -> int:
    name = names.key_name(ctx.workspace, ctx.args.key)
    request = admin_service_pb2.RotateGatewayKeyRequest(
        name=name, grace=parsing.duration_proto(ctx.args.grace)
    )
    response = ctx.client.stub.RotateGatewayKey(request)
    if ctx.format == "json":
        output.write_json(output.to_dict(response))
        return 0
    key = response.gateway_key
    deadline = output.fmt_time(key.previous_secret_expire_time) or "now"
    columns = [
        *COLUMNS,
        ("rotated", lambda k: output.fmt_time(k.rotate_time)),
        ("old secret until", lambda _: deadline),
        ("key", lambda _: response.key_text),
    ]
    output.emit_one(ctx.format, key, columns)
    print("The new key is shown once: store it now.", file=sys.stderr)
    return 0


def revoke(ctx: Context) -> int:
    name = names.key_name(ctx.workspace, ctx.args.key)
    response = ctx.client.stub.RevokeGatewayKey(
        admin_service_pb2.RevokeGatewayKeyRequest(name=name)
    )
    output.emit_one(ctx.format, response.gateway_key, COLUMNS)
    return 0


def _timestamp(moment: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts
