"""`oggy secrets rotate-kek`: re-wrap every provider secret under a new key-encryption key."""

from __future__ import annotations

from controlplane.cli import output
from controlplane.cli.commands.group import unscoped_action
from controlplane.cli.context import Context
from oggy.v1 import admin_service_pb2

# Re-wrapping is one compare-and-set per secret plus a settle pause: longer than a CRUD call.
ROTATE_TIMEOUT_S = 300.0

COLUMNS: list[output.Column] = [
    ("kek id", lambda r: r.kek_id),
    ("rewrapped", lambda r: r.rewrapped),
]


NOUN = "secrets"
SUMMARY = "manage how provider secrets are encrypted"


def rotate_kek(ctx: Context) -> int:
    response = ctx.client.stub.RotateKeyEncryptionKey(
        admin_service_pb2.RotateKeyEncryptionKeyRequest(), timeout=ROTATE_TIMEOUT_S
    )
    output.emit_one(ctx.format, response, COLUMNS)
    return 0


register = unscoped_action(
    "rotate-kek", rotate_kek, "new key-encryption key; every data key re-wrapped, no downtime"
)
