"""Budget RPCs: spend limits over a scope and period, CRUD with masked updates.

GetBudgetStatus and ListBudgetCrossings read spend and crossings, not the budget
resources: they live with the budget accounting, not here.
"""

from __future__ import annotations

from controlplane.api import convert
from controlplane.api.resources.base import Ctx
from controlplane.api.resources.child import ChildResource, serves
from controlplane.api.resources.scoped import ScopedRpcs
from controlplane.api.status import grpc_errors
from controlplane.domain import fieldmask, quota_specs
from oggy.contract.names import Collection
from oggy.v1 import admin_service_pb2 as pb

BUDGET = ChildResource("Budget", "Budgets", Collection.BUDGETS, convert.budget_out)


@serves(BUDGET, "Get", "List", "Delete")
class BudgetRpcs(ScopedRpcs):
    @grpc_errors
    async def CreateBudget(self, request: pb.CreateBudgetRequest, context: Ctx):
        return await self._create_scoped(BUDGET, request, quota_specs.BUDGETS)

    @grpc_errors
    async def UpdateBudget(self, request: pb.UpdateBudgetRequest, context: Ctx):
        return await self._update_scoped(
            BUDGET, request, fieldmask.BUDGET_UPDATABLE, convert.budget, quota_specs.BUDGETS
        )
