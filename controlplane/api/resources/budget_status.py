"""GetBudgetStatus and ListBudgetCrossings: a budget's state in its current period.

Runtime figures, not stored resources, so their mapping to protos lives here. The
budget is the one published to data planes (the quota rule book), so the status
describes the rule data planes enforce. Spend is read from the usage store with the
allocator's own query (controlplane.quota.spend); `reserved` is the headroom data
planes hold beyond their acknowledged spend, known only to the elected allocator:
another control plane reports 0 there.
"""

from __future__ import annotations

import hashlib

from controlplane.api import convert
from controlplane.api.resources.base import Ctx, ServicerBase
from controlplane.api.status import grpc_errors
from controlplane.domain import paging
from controlplane.domain.errors import NotFound, Unavailable
from controlplane.quota.allocator import Counter
from controlplane.quota.spend import US, read_spend
from controlplane.usage.budgets import Crossing
from oggy.contract.compile.quota import Per
from oggy.contract.names import Collection, parse_child_name, parse_workspace_name
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import budget_pb2

# Every crossing of one period fits: thresholds are 1..1000 percent, each once per member.
_ALL = 1000


class BudgetStatusRpcs(ServicerBase):
    @grpc_errors
    async def GetBudgetStatus(self, request: pb.GetBudgetStatusRequest, context: Ctx):
        quota, usage = self._quota_and_usage()
        name = str(parse_child_name(request.name, Collection.BUDGETS, "name"))
        rule = quota.rules.rules().get(name)
        budget = quota.rules.budget(name)
        if rule is None or budget is None:
            raise NotFound(f"{name} not found")
        now = self._clock()
        window = rule.window(now)
        (read,) = (await read_spend(usage, [rule], now, now)).values()
        members = [""] if rule.per is Per.SCOPE else sorted(read.by_member)
        if request.member:
            members = [m for m in members if m == request.member] or [request.member]
        statuses = []
        for member in members:
            crossings, _ = await usage.list_budget_crossings(
                rule.name.rsplit("/budgets/", 1)[0],
                name,
                _ALL,
                "",
                member=member,
                period_start_us=window.start * US,
            )
            spent = read.spend(member)
            reserved = quota.reserved(Counter(name, member, window.start))
            status = budget_pb2.BudgetStatus(
                budget=name,
                member=member,
                amount_micro_usd=rule.capacity,
                spent_micro_usd=spent,
                reserved_micro_usd=reserved,
                remaining_micro_usd=max(0, rule.capacity - spent - reserved),
                percent=spent * 100 / rule.capacity,
                period_start=convert.timestamp(window.start),
                exhausted=spent >= rule.capacity,
                crossings=[
                    crossing_out(c) for c in sorted(crossings, key=lambda c: c.threshold_percent)
                ],
            )
            if window.reset is not None:
                status.reset_time.CopyFrom(convert.timestamp(window.reset))
            statuses.append(status)
        return pb.GetBudgetStatusResponse(budget=budget, statuses=statuses)

    @grpc_errors
    async def ListBudgetCrossings(self, request: pb.ListBudgetCrossingsRequest, context: Ctx):
        _, usage = self._quota_and_usage()
        if "/budgets/" in request.parent:
            budget = str(parse_child_name(request.parent, Collection.BUDGETS, "parent"))
            workspace = budget.rsplit("/budgets/", 1)[0]
        else:
            workspace, budget = str(parse_workspace_name(request.parent, "parent")), ""
        crossings, token = await usage.list_budget_crossings(
            workspace, budget, paging.page_size(request.page_size), request.page_token
        )
        return pb.ListBudgetCrossingsResponse(
            crossings=[crossing_out(c) for c in crossings], next_page_token=token
        )

    def _quota_and_usage(self):  # type: ignore[no-untyped-def]
        if self._quota is None or self._usage is None:
            raise Unavailable("this control plane keeps no budget figures")
        return self._quota, self._usage


def crossing_out(c: Crossing) -> budget_pb2.BudgetCrossing:
    # Stable per (member, period, threshold): the store's unique key within the budget.
    digest = hashlib.sha256(f"{c.member}|{c.period_start_us}|{c.threshold_percent}".encode())
    return budget_pb2.BudgetCrossing(
        name=f"{c.budget}/crossings/{digest.hexdigest()[:20]}",
        budget=c.budget,
        member=c.member,
        threshold_percent=c.threshold_percent,
        period_start=convert.timestamp(c.period_start_us / US),
        cross_time=convert.timestamp(c.cross_us / US),
        spent_micro_usd=c.spent_micro_usd,
        amount_micro_usd=c.amount_micro_usd,
    )
