"""Limit and Budget RPCs against a real grpc.aio server (create_server) on real etcd:
CRUD, normalisation on write, compile-checked refusals, etags, idempotency, paging, audit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask

from oggy.v1 import actor_pb2, budget_pb2, limit_pb2, scope_pb2
from oggy.v1 import admin_service_pb2 as pb
from tests.integration.test_admin_api_resources import (
    Env,
    W,
    admin_env,
    audits,
    code_of,
    provider,
)
from tests.support.etcd import etcd_endpoint_fixture  # noqa: F401

L = limit_pb2.Limit
B = budget_pb2.Budget
S = scope_pb2.Scope


@pytest.fixture
async def env(etcd_endpoint: str, tmp_path: Path) -> AsyncIterator[Env]:
    async with admin_env(etcd_endpoint, tmp_path) as e:
        yield e


async def team(e: Env, actor_id: str = "ml") -> str:
    body = actor_pb2.Actor(kind=actor_pb2.Actor.Kind.KIND_TEAM)
    resp = await e.stub.CreateActor(
        pb.CreateActorRequest(parent=W, actor_id=actor_id, actor=body), metadata=e.md
    )
    return resp.actor.name


async def create_limit(e: Env, limit: L, limit_id: str = "", request_id: str = "") -> L:
    request = pb.CreateLimitRequest(parent=W, limit_id=limit_id, limit=limit, request_id=request_id)
    return (await e.stub.CreateLimit(request, metadata=e.md)).limit


async def create_budget(e: Env, budget: B, budget_id: str = "") -> B:
    request = pb.CreateBudgetRequest(parent=W, budget_id=budget_id, budget=budget)
    return (await e.stub.CreateBudget(request, metadata=e.md)).budget


async def test_limit_crud_normalised_etag_idempotent_and_audited(env: Env) -> None:
    stub, md = env.stub, env.md
    ml = await team(env)
    body = L(
        metric=L.METRIC_REQUESTS, capacity=600, scope=S(team="ml", model="gpt-4o*"), description="d"
    )
    limit = await create_limit(env, body, "ml-rpm", request_id="req-limit-1")
    # Explicit on read: the scope's id became a name, per scope and 60 s written out.
    assert limit.name == f"{W}/limits/ml-rpm" and limit.scope == S(team=ml, model="gpt-4o*")
    assert limit.counted_per == scope_pb2.COUNTED_PER_SCOPE
    assert limit.window == Duration(seconds=60) and limit.etag
    assert limit.create_time == limit.update_time and limit.create_time.seconds > 0
    # A retried create with the same request id returns the first result.
    again = await create_limit(env, body, "ml-rpm", request_id="req-limit-1")
    assert again == limit
    assert await code_of(create_limit(env, body, "ml-rpm")) == grpc.StatusCode.ALREADY_EXISTS
    got = (await stub.GetLimit(pb.GetLimitRequest(name=limit.name), metadata=md)).limit
    assert got == limit

    # Masked update: only the named fields change; a stale etag is ABORTED.
    patch = L(name=limit.name, capacity=100, metric=L.METRIC_TOKENS, etag=limit.etag)
    updated = (
        await stub.UpdateLimit(
            pb.UpdateLimitRequest(limit=patch, update_mask=FieldMask(paths=["capacity"])),
            metadata=md,
        )
    ).limit
    assert (updated.capacity, updated.metric, updated.scope) == (
        100,
        L.METRIC_REQUESTS,
        limit.scope,
    )
    assert updated.etag != limit.etag and updated.create_time == limit.create_time
    assert await code_of(stub.UpdateLimit(pb.UpdateLimitRequest(limit=patch), metadata=md)) == (
        grpc.StatusCode.ABORTED
    )
    # Becoming a concurrency limit drops the window it no longer has.
    concurrent = L(name=limit.name, metric=L.METRIC_CONCURRENT_REQUESTS)
    updated = (
        await stub.UpdateLimit(
            pb.UpdateLimitRequest(limit=concurrent, update_mask=FieldMask(paths=["metric"])),
            metadata=md,
        )
    ).limit
    assert updated.metric == L.METRIC_CONCURRENT_REQUESTS and not updated.HasField("window")
    bad_mask = pb.UpdateLimitRequest(limit=concurrent, update_mask=FieldMask(paths=["name"]))
    assert await code_of(stub.UpdateLimit(bad_mask, metadata=md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )

    # Paging in name order.
    for i in range(3):
        await create_limit(env, L(metric=L.METRIC_TOKENS, capacity=1), f"l{i}")
    seen, token = [], ""
    while True:
        resp = await stub.ListLimits(
            pb.ListLimitsRequest(parent=W, page_size=2, page_token=token), metadata=md
        )
        seen += [x.name for x in resp.limits]
        token = resp.next_page_token
        if not token:
            break
    assert seen == [f"{W}/limits/{i}" for i in ("l0", "l1", "l2", "ml-rpm")]

    stale = pb.DeleteLimitRequest(name=limit.name, etag=limit.etag)
    assert await code_of(stub.DeleteLimit(stale, metadata=md)) == grpc.StatusCode.ABORTED
    await stub.DeleteLimit(pb.DeleteLimitRequest(name=limit.name, etag=updated.etag), metadata=md)
    gone = pb.GetLimitRequest(name=limit.name)
    assert await code_of(stub.GetLimit(gone, metadata=md)) == grpc.StatusCode.NOT_FOUND
    events = [(e.method, e.resource) for e in await audits(env, W, 1000)]
    for method in ("CreateLimit", "UpdateLimit", "DeleteLimit"):
        assert (method, limit.name) in events
    assert events.count(("CreateLimit", limit.name)) == 1  # the replay wrote nothing


LIMIT_REFUSALS = [
    pytest.param(L(capacity=1), "metric must be", id="no metric"),
    pytest.param(L(metric=L.METRIC_REQUESTS), "capacity must be > 0", id="capacity 0"),
    pytest.param(
        L(metric=L.METRIC_REQUESTS, capacity=1, window=Duration(seconds=0)),
        "window must be whole seconds",
        id="window 0",
    ),
    pytest.param(
        L(metric=L.METRIC_REQUESTS, capacity=1, window=Duration(seconds=1, nanos=5)),
        "window must be whole seconds",
        id="window fraction",
    ),
    pytest.param(
        L(metric=L.METRIC_CONCURRENT_REQUESTS, capacity=1, window=Duration(seconds=60)),
        "has no window",
        id="concurrency window",
    ),
    pytest.param(
        L(metric=L.METRIC_REQUESTS, capacity=1, scope=S(model="gpt-[4")), "gpt-[4", id="glob"
    ),
    pytest.param(
        L(metric=L.METRIC_REQUESTS, capacity=1, scope=S(actor="workspaces/other/actors/a")),
        "is not in workspaces/acme",
        id="other workspace",
    ),
    pytest.param(
        L(metric=L.METRIC_REQUESTS, capacity=1, scope=S(team="ghost")),
        "scope.team names workspaces/acme/actors/ghost, which does not exist",
        id="missing team",
    ),
    pytest.param(
        L(metric=L.METRIC_REQUESTS, capacity=1, scope=S(provider="ghost")),
        "which does not exist",
        id="missing provider",
    ),
    pytest.param(
        L(metric=L.METRIC_REQUESTS, capacity=1, scope=S(app="a\nb")),
        "control characters",
        id="app label",
    ),
    pytest.param(L(metric=9, capacity=1), "metric must be", id="unknown metric"),
]


@pytest.mark.parametrize(("body", "message"), LIMIT_REFUSALS)
async def test_limit_refusals_are_invalid_argument_with_the_reason(
    env: Env, body: L, message: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await create_limit(env, body, "bad")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (info.value.details() or "")


async def test_budget_crud_normalised_and_refusals(env: Env) -> None:
    stub, md = env.stub, env.md
    await team(env)
    p = await provider(env, "openai")
    body = B(
        amount_micro_usd=100_000_000,
        period=B.PERIOD_MONTH,
        enforcement=B.ENFORCEMENT_HARD,
        scope=S(team="ml", provider="openai"),
        counted_per=scope_pb2.COUNTED_PER_ACTOR,
    )
    budget = await create_budget(env, body, "ml-month")
    assert list(budget.threshold_percents) == [50, 80, 100]
    assert budget.scope == S(team=f"{W}/actors/ml", provider=p.name)
    assert budget.counted_per == scope_pb2.COUNTED_PER_ACTOR
    patch = B(name=budget.name, threshold_percents=[100, 25, 100], enforcement=B.ENFORCEMENT_SOFT)
    updated = (
        await stub.UpdateBudget(pb.UpdateBudgetRequest(budget=patch), metadata=md)
    ).budget  # an empty mask: the populated fields
    assert list(updated.threshold_percents) == [25, 100]
    assert updated.enforcement == B.ENFORCEMENT_SOFT and updated.period == B.PERIOD_MONTH
    listed = (await stub.ListBudgets(pb.ListBudgetsRequest(parent=W), metadata=md)).budgets
    assert [b.name for b in listed] == [budget.name]

    for bad, message in [
        (B(amount_micro_usd=0, period=1, enforcement=1), "amount must be > 0"),
        (B(amount_micro_usd=1, enforcement=1), "period must be"),
        (B(amount_micro_usd=1, period=7, enforcement=1), "period must be"),
        (B(amount_micro_usd=1, period=1), "enforcement must be"),
        (B(amount_micro_usd=1, period=1, enforcement=1, threshold_percents=[0]), "thresholds"),
        (B(amount_micro_usd=1, period=1, enforcement=1, scope=S(key="kghost")), "does not exist"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await create_budget(env, bad, "bad")
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in (info.value.details() or ""), info.value.details()
    bad_update = pb.UpdateBudgetRequest(
        budget=B(name=budget.name, period=0), update_mask=FieldMask(paths=["period"])
    )
    assert await code_of(stub.UpdateBudget(bad_update, metadata=md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    orphan = pb.CreateBudgetRequest(parent="workspaces/nope", budget=body)
    assert await code_of(stub.CreateBudget(orphan, metadata=md)) == grpc.StatusCode.NOT_FOUND
    await stub.DeleteBudget(pb.DeleteBudgetRequest(name=budget.name), metadata=md)
    assert not (await stub.ListBudgets(pb.ListBudgetsRequest(parent=W), metadata=md)).budgets


async def test_a_workspace_with_limits_or_budgets_is_not_deleted_from_under_them(
    env: Env,
) -> None:
    stub, md = env.stub, env.md
    limit = await create_limit(env, L(metric=L.METRIC_REQUESTS, capacity=1), "l")
    budget = await create_budget(env, B(amount_micro_usd=1, period=4, enforcement=1), "b")
    delete = pb.DeleteWorkspaceRequest(name=W)
    for name, rpc, request in [
        (limit.name, stub.DeleteLimit, pb.DeleteLimitRequest(name=limit.name)),
        (budget.name, stub.DeleteBudget, pb.DeleteBudgetRequest(name=budget.name)),
    ]:
        assert await code_of(stub.DeleteWorkspace(delete, metadata=md)) == (
            grpc.StatusCode.FAILED_PRECONDITION
        ), name
        await rpc(request, metadata=md)
    await stub.DeleteWorkspace(delete, metadata=md)
