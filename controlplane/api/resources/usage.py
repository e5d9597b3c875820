"""Usage queries served from the usage store (ListUsageEvents, SummarizeUsage)."""

from __future__ import annotations

from typing import Any

from controlplane.api.resources.base import Ctx, ServicerBase
from controlplane.api.status import grpc_errors
from controlplane.domain.errors import InvalidArgument, Unavailable
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1.usage_pb2 import UsageGroupBy


class UsageRpcs(ServicerBase):
    def _usage_store(self) -> Any:
        if self._usage is None:
            raise Unavailable("no usage store is configured")
        return self._usage

    @grpc_errors
    async def ListUsageEvents(self, request: pb.ListUsageEventsRequest, context: Ctx):
        await self._existing_workspace(request.filter.workspace, "filter.workspace")
        events, token = await self._usage_store().list_events(
            request.filter, request.page_size, request.page_token
        )
        return pb.ListUsageEventsResponse(usage_events=events, next_page_token=token)

    @grpc_errors
    async def SummarizeUsage(self, request: pb.SummarizeUsageRequest, context: Ctx):
        await self._existing_workspace(request.filter.workspace, "filter.workspace")
        group_by = list(request.group_by)
        if UsageGroupBy.USAGE_GROUP_BY_UNSPECIFIED in group_by:
            raise InvalidArgument("group_by must not contain USAGE_GROUP_BY_UNSPECIFIED")
        rows = await self._usage_store().summarize(request.filter, group_by)
        return pb.SummarizeUsageResponse(rows=rows)
