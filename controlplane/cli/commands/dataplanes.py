"""`oggy dataplanes list`: the data planes this control plane feeds, and how each is doing.

    oggy dataplanes list                 one row per data plane
    oggy dataplanes list --format json   the same rows as a JSON array

A workspace the control plane holds back (its stored config does not compile, so data
planes keep its last good state) is a warning on stderr, so stdout stays the list.
"""

from __future__ import annotations

import sys

from controlplane.cli import output
from controlplane.cli.commands.group import unscoped_action
from controlplane.cli.context import Context
from oggy.v1 import admin_service_pb2, data_plane_pb2

MAX_REASON = 60


def _nack(plane: data_plane_pb2.DataPlane) -> str:
    if not plane.last_nack_revision:
        return ""
    reason = plane.last_nack_reason
    if len(reason) > MAX_REASON:
        reason = reason[: MAX_REASON - 1] + "…"
    return f"{plane.last_nack_revision}: {reason}"


COLUMNS: list[output.Column] = [
    ("node", lambda p: p.node_id),
    ("host", lambda p: p.hostname),
    ("version", lambda p: p.version),
    ("state", lambda p: "connected" if p.connected else "disconnected"),
    ("applied", lambda p: p.applied_revision),
    ("last nack", _nack),
    ("warnings", lambda p: len(p.compile_warnings)),
    ("backlog", lambda p: p.usage_backlog),
    ("last usage", lambda p: output.fmt_time(p.last_usage_report_time)),
    ("connected at", lambda p: output.fmt_time(p.connect_time)),
]


NOUN = "dataplanes"
SUMMARY = "the data planes a control plane feeds config to"


def list_dataplanes(ctx: Context) -> int:
    request = admin_service_pb2.ListDataPlanesRequest(page_size=200)
    planes: list[data_plane_pb2.DataPlane] = []
    while True:
        response = ctx.client.stub.ListDataPlanes(request)
        planes.extend(response.data_planes)
        if not response.next_page_token:
            break
        request.page_token = response.next_page_token
    output.emit(ctx.format, planes, COLUMNS)
    for held in response.held_workspaces:
        at = f"revision {held.held_revision}" if held.held_revision else "nothing (never compiled)"
        print(
            f"warning: {held.workspace} is held back at {at}: "
            f"revision {held.failed_revision} does not compile: {held.error}",
            file=sys.stderr,
        )
    return 0


register = unscoped_action(
    "list",
    list_dataplanes,
    "applied config revision, rejections, usage backlog; held-back workspaces",
)
