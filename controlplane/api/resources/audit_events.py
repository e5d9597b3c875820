"""ListAuditEvents: the admin change log, newest first."""

from __future__ import annotations

from controlplane.api import convert
from controlplane.api.resources.base import Ctx, ServicerBase
from controlplane.api.status import grpc_errors
from controlplane.domain import audit, paging
from oggy.contract.names import parse_workspace_name
from oggy.v1 import admin_service_pb2 as pb


class AuditRpcs(ServicerBase):
    @grpc_errors
    async def ListAuditEvents(self, request: pb.ListAuditEventsRequest, context: Ctx):
        workspace = str(parse_workspace_name(request.parent, "parent")) if request.parent else ""
        size = paging.page_size(request.page_size)
        items, _ = await self._store.list_prefix(self._layout.audit_events)
        if workspace:
            events = [convert.audit_event(i) for i in items]
            items = [i for i, e in zip(items, events, strict=True) if e.workspace == workspace]
        page, token = audit.paginate_newest_first(
            items, lambda i: i.key, f"audit:{workspace}", size, request.page_token
        )
        return pb.ListAuditEventsResponse(
            audit_events=[convert.audit_event(i) for i in page], next_page_token=token
        )
