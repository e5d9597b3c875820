"""`oggy secrets rotate-kek`: re-wrap every provider secret under a new key-encryption key."""

from __future__ import annotations

import argparse

from controlplane.cli import output
from controlplane.cli.context import Context
from oggy.v1 import admin_service_pb2

# Re-wrapping is one compare-and-set per secret plus a settle pause: longer than a CRUD call.
ROTATE_TIMEOUT_S = 300.0

COLUMNS: list[output.Column] = [
    ("kek id", lambda r: r.kek_id),
    ("rewrapped", lambda r: r.rewrapped),
]


def register(
    sub: argparse._SubParsersAction,
    common: argparse.ArgumentParser,
    scoped: argparse.ArgumentParser,
) -> None:
    parser = sub.add_parser("secrets", help="manage how provider secrets are encrypted")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    rotate_p = actions.add_parser(
        "rotate-kek",
        parents=[common],
        help="new key-encryption key; every data key re-wrapped, no downtime",
    )
    rotate_p.set_defaults(handler=rotate_kek)


def rotate_kek(ctx: Context) -> int:
    response = ctx.client.stub.RotateKeyEncryptionKey(
        admin_service_pb2.RotateKeyEncryptionKeyRequest(), timeout=ROTATE_TIMEOUT_S
    )
    output.emit_one(ctx.format, response, COLUMNS)
    return 0
