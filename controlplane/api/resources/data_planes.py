"""ListDataPlanes: the data planes this control plane streams config to, and the
workspaces it holds back because their stored config does not compile.

A runtime view kept by the publisher (nothing of it is stored), so its mapping
to protos lives here rather than in convert.py, which maps stored resources.
"""

from __future__ import annotations

from controlplane.api import convert
from controlplane.api.resources.base import Ctx, ServicerBase
from controlplane.api.status import grpc_errors
from controlplane.domain import paging
from controlplane.domain.errors import Unavailable
from controlplane.publisher import HeldWorkspace, NodeStatus
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import data_plane_pb2, held_workspace_pb2

COLLECTION = "dataPlanes"


class DataPlaneRpcs(ServicerBase):
    @grpc_errors
    async def ListDataPlanes(self, request: pb.ListDataPlanesRequest, context: Ctx):
        if self._fleet is None:
            raise Unavailable("this control plane does not publish config")
        size = paging.page_size(request.page_size)
        page, token = paging.paginate(
            self._fleet.nodes(), lambda n: n.node_id, COLLECTION, size, request.page_token
        )
        published = self._fleet.snapshot
        return pb.ListDataPlanesResponse(
            data_planes=[data_plane_out(n) for n in page],
            next_page_token=token,
            held_workspaces=[held_workspace_out(h) for h in self._fleet.held()],
            published_revision=published.revision if published is not None else 0,
        )


def data_plane_out(status: NodeStatus) -> data_plane_pb2.DataPlane:
    out = data_plane_pb2.DataPlane(
        name=f"{COLLECTION}/{status.node_id}",
        node_id=status.node_id,
        hostname=status.hostname,
        version=status.version,
        peer=status.peer,
        connected=status.connected,
        connect_time=convert.timestamp(status.connected_at),
        sent_revision=status.last_sent_version,
        applied_revision=status.last_acked_version,
        last_nack_revision=status.last_nack_version,
        last_nack_reason=status.last_nack_error,
        nack_count=status.nacks,
        compile_warnings=status.warnings,
        usage_backlog=status.usage_backlog,
    )
    # Unset rather than 1970 when it never happened.
    for field, at in (
        ("disconnect_time", status.disconnected_at),
        ("last_ack_time", status.last_acked_at),
        ("last_nack_time", status.last_nack_at),
        ("last_usage_report_time", status.last_usage_at),
    ):
        if at is not None:
            getattr(out, field).CopyFrom(convert.timestamp(at))
    return out


def held_workspace_out(held: HeldWorkspace) -> held_workspace_pb2.HeldWorkspace:
    return held_workspace_pb2.HeldWorkspace(
        workspace=held.workspace,
        held_revision=held.held_revision,
        failed_revision=held.failed_revision,
        error=held.error,
        hold_time=convert.timestamp(held.since),
    )
