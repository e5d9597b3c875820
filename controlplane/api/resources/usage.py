"""ListUsageEvents and SummarizeUsage: UsageQueries answers them, as it does the other
usage RPCs (resources/delegated.py), over the usage store this servicer is given.

The filter's workspace must exist first: the usage store alone cannot tell a
missing workspace from an idle one. Without a usage store: UNAVAILABLE.
"""

from __future__ import annotations

from controlplane.api.resources.base import Ctx, ServicerBase
from oggy.v1 import admin_service_pb2 as pb


class UsageRpcs(ServicerBase):
    async def ListUsageEvents(self, request: pb.ListUsageEventsRequest, context: Ctx):
        await self._check_filter_workspace(request, context)
        return await self._store_queries.ListUsageEvents(request, context)

    async def SummarizeUsage(self, request: pb.SummarizeUsageRequest, context: Ctx):
        await self._check_filter_workspace(request, context)
        return await self._store_queries.SummarizeUsage(request, context)
