"""Limit RPCs: rate and concurrency limits over a scope, CRUD with masked updates."""

from __future__ import annotations

from controlplane.api import convert
from controlplane.api.resources.base import Ctx
from controlplane.api.resources.child import ChildResource, serves
from controlplane.api.resources.scoped import ScopedRpcs
from controlplane.api.status import grpc_errors
from controlplane.domain import fieldmask, quota_specs
from oggy.contract.names import Collection
from oggy.v1 import admin_service_pb2 as pb

LIMIT = ChildResource("Limit", "Limits", Collection.LIMITS, convert.limit_out)


@serves(LIMIT, "Get", "List", "Delete")
class LimitRpcs(ScopedRpcs):
    @grpc_errors
    async def CreateLimit(self, request: pb.CreateLimitRequest, context: Ctx):
        return await self._create_scoped(LIMIT, request, quota_specs.LIMITS)

    @grpc_errors
    async def UpdateLimit(self, request: pb.UpdateLimitRequest, context: Ctx):
        return await self._update_scoped(
            LIMIT, request, fieldmask.LIMIT_UPDATABLE, convert.limit, quota_specs.LIMITS
        )
