"""Hard, shared, per-workflow and soft budgets over several data plane processes (real
etcd, control plane and mock provider; the official `openai` client, retries off).

Spend is checked against the provider's own account (the mock records what it billed):
a hard budget is never overspent by a conforming upstream, and little is left unused
when every caller has been refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterator

import openai
import pytest

from oggy.v1 import actor_pb2, budget_pb2, key_pb2, policy_pb2, scope_pb2
from oggy.v1 import admin_service_pb2 as admin_pb
from tests.e2e.conftest import Stack, register_key, register_tenant
from tests.e2e.quota.support import (
    async_client,
    call,
    create_budget,
    mock_spend,
    set_prices,
)
from tests.support.oggy_clients import (
    Tenant,
    create_tenant,
    http_request,
    wait_key_accepted,
    wait_until,
)
from tests.support.processes import DataPlane, start_data_plane
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PLANES = 4
DOLLAR = 1_000_000
CALLERS = 400
# A conforming upstream: the mock answers 8 words to a request that allows 10 tokens.
TEXT = "how much is left mock:words=8"
MAX_TOKENS = 10
UNDER_USE = 0.05
# Budgets of a few dozen requests: a request's reservation is several percent of them.
SMALL_UNDER_USE = 0.15


@pytest.fixture(scope="module")
def quota_stack(stack_factory: Callable[[str], Stack]) -> Iterator[Stack]:
    stack = stack_factory("budgets")
    for i in range(1, PLANES):
        stack.start_dataplane(f"dp-budgets-{i}")
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def planes(quota_stack: Stack) -> list[DataPlane]:
    return [quota_stack.dp, *quota_stack.extra_dataplanes]


def new_tenant(
    stack: Stack, planes: list[DataPlane], secrets: dict[str, str], prefix: str
) -> Tenant:
    t = register_tenant(
        secrets, create_tenant(stack.admin, stack.mock.url, planes[0].url, prefix=prefix)
    )
    for dp in planes[1:]:
        wait_key_accepted(dp.url, t.key_text)
    set_prices(stack.admin, t.workspace)
    return t


def mock_requests(stack: Stack) -> list[dict[str, object]]:
    response = http_request("GET", f"{stack.mock.url}/_mock/requests")
    return response.json()


async def until_refused(
    clients: list[openai.AsyncOpenAI],
    callers: int,
    headers: dict[str, str] | None = None,
    served: Counter[int] | None = None,
) -> list[list[int]]:
    """`callers` concurrent callers (every other one streaming), each calling until refused;
    `served` counts the answers per data plane as they come."""

    async def caller(i: int) -> list[int]:
        seen = []
        plane = i % len(clients)
        while True:
            out = await call(
                clients[plane], plane, TEXT, stream=i % 2 == 1, max_tokens=MAX_TOKENS,
                headers=headers,
            )  # fmt: skip
            seen.append(out.status)
            if served is not None and out.status == 200:
                served[plane] += 1
            if out.status != 200:
                assert (out.status, out.code) == (402, "budget_exceeded"), out
                return seen

    return await asyncio.gather(*(caller(i) for i in range(callers)))


def drive(planes: list[DataPlane], key_text: str, callers: int = CALLERS, **kw) -> list[list[int]]:
    async def go():
        clients = [async_client(dp.url, key_text) for dp in planes]
        try:
            return await until_refused(clients, callers, **kw)
        finally:
            for c in clients:
                await c.close()

    return asyncio.run(go())


def check_spend(stack: Stack, tenant: Tenant, amount: int, under_use: float = UNDER_USE) -> int:
    spent = mock_spend(mock_requests(stack), tenant.provider_api_key)
    print(f"budget {amount} micro-USD; the provider billed {spent} ({spent / amount:.1%})")
    assert spent <= amount, f"overspent: {spent} > {amount}"
    assert amount - spent <= under_use * amount, f"under-used: {spent} of {amount}"
    return spent


def test_hard_budget_holds_over_four_planes(
    quota_stack: Stack, planes: list[DataPlane], secret_registry: dict[str, str]
) -> None:
    t = new_tenant(quota_stack, planes, secret_registry, "hard")
    create_budget(quota_stack.admin, t.workspace, "dollar", DOLLAR)
    time.sleep(1.0)
    drive(planes, t.key_text)
    check_spend(quota_stack, t, DOLLAR)
    name = f"{t.workspace}/budgets/dollar"

    def spent_recorded() -> admin_pb.GetBudgetStatusResponse | None:
        found = quota_stack.admin.GetBudgetStatus(admin_pb.GetBudgetStatusRequest(name=name))
        (status,) = found.statuses
        crossed = [c.threshold_percent for c in status.crossings]
        spent = status.spent_micro_usd >= (1 - UNDER_USE) * DOLLAR
        return found if spent and crossed == [50, 80] else None

    # The control plane's own figure (from ingested usage) agrees with the provider's.
    (status,) = wait_until(spent_recorded, timeout=15, message="spend ingested").statuses
    print(status)
    assert status.amount_micro_usd == DOLLAR and status.spent_micro_usd <= DOLLAR


def test_hard_budget_holds_with_a_plane_cut_from_the_control_plane_half_way(
    quota_stack: Stack, planes: list[DataPlane], secret_registry: dict[str, str]
) -> None:
    proxy = TcpProxy(quota_stack.cp.address).start()
    cut = start_data_plane(
        quota_stack.procs,
        dataclasses.replace(quota_stack.cp, address=proxy.address),
        quota_stack.root / "spool-cut",
        node_id="dp-budgets-cut",
    )
    try:
        fleet = [*planes[:3], cut]
        t = new_tenant(quota_stack, fleet, secret_registry, "cut")
        create_budget(quota_stack.admin, t.workspace, "dollar", DOLLAR)
        time.sleep(1.0)

        async def go():
            clients = [async_client(dp.url, t.key_text) for dp in fleet]
            served: Counter[int] = Counter()
            task = asyncio.create_task(until_refused(clients, CALLERS, served=served))
            # Half way, with the fourth data plane serving its share by then.
            await wait_half_spent(quota_stack, t, DOLLAR, lambda: served[3] > 0)
            proxy.drop()
            print("cut the fourth data plane from the control plane")
            calls = await task
            for c in clients:
                await c.close()
            return calls

        outcomes = asyncio.run(go())
        served = [sum(s == 200 for c in outcomes[i::4] for s in c) for i in range(4)]
        print(f"served per data plane (the last one cut): {served}")
        check_spend(quota_stack, t, DOLLAR)
    finally:
        proxy.close()
        cut.child.stop()


async def wait_half_spent(
    stack: Stack, tenant: Tenant, amount: int, also: Callable[[], bool] = lambda: True
) -> None:
    async def spent() -> int:
        return mock_spend(await asyncio.to_thread(mock_requests, stack), tenant.provider_api_key)

    while not (also() and await spent() >= amount / 2):  # noqa: ASYNC110 - another process
        await asyncio.sleep(0.05)


def bound_key(
    stack: Stack, workspace: str, actor: str, dp_url: str, secrets: dict[str, str]
) -> str:
    response = stack.admin.CreateGatewayKey(
        admin_pb.CreateGatewayKeyRequest(
            parent=workspace, gateway_key=key_pb2.GatewayKey(display_name="member", actor=actor)
        )
    )
    register_key(secrets, response.gateway_key.name, response.key_text)
    wait_key_accepted(dp_url, response.key_text)
    return response.key_text


def test_a_team_budget_is_one_pool_for_its_members_on_two_planes(
    quota_stack: Stack, planes: list[DataPlane], secret_registry: dict[str, str]
) -> None:
    t = new_tenant(quota_stack, planes, secret_registry, "team")
    admin = quota_stack.admin
    team = admin.CreateActor(
        admin_pb.CreateActorRequest(
            parent=t.workspace, actor_id="ml", actor=actor_pb2.Actor(kind=actor_pb2.Actor.KIND_TEAM)
        )
    ).actor.name
    keys = []
    for who in ("ada", "bob"):
        actor = admin.CreateActor(
            admin_pb.CreateActorRequest(
                parent=t.workspace, actor_id=who,
                actor=actor_pb2.Actor(kind=actor_pb2.Actor.KIND_USER, teams=[team]),
            )
        ).actor.name  # fmt: skip
        keys.append(bound_key(quota_stack, t.workspace, actor, planes[0].url, secret_registry))
    for key in keys:
        wait_key_accepted(planes[1].url, key)
    amount = DOLLAR // 4
    create_budget(admin, t.workspace, "ml", amount, scope=scope_pb2.Scope(team="ml"))
    time.sleep(1.0)

    async def go() -> tuple[int, int, int]:
        ada = async_client(planes[0].url, keys[0])
        bob = async_client(planes[1].url, keys[1])
        try:
            # Ada spends part of the pool on one data plane ...
            first = await asyncio.gather(
                *(call(ada, 0, TEXT, max_tokens=MAX_TOKENS) for _ in range(20))
            )
            assert {o.status for o in first} == {200}
            # ... then Bob, on another, gets only what she left ...
            bob_calls = await until_refused([bob], 10)
            # ... and once the pool is spent, she is refused too.
            last = await call(ada, 0, TEXT, max_tokens=MAX_TOKENS)
            assert (last.status, last.code) == (402, "budget_exceeded"), last
            return len(first), sum(s == 200 for c in bob_calls for s in c), last.status
        finally:
            await ada.close()
            await bob.close()

    ada_served, bob_served, _ = asyncio.run(go())
    print(f"served to ada and bob: {ada_served}, {bob_served}")
    spent = check_spend(quota_stack, t, amount, under_use=SMALL_UNDER_USE)
    per_request = spent / (ada_served + bob_served)
    # One pool: Bob got about what Ada left, not a pool of his own.
    assert bob_served * per_request <= amount - ada_served * per_request + per_request


def test_a_workflow_budget_counts_only_that_workflow(
    quota_stack: Stack, planes: list[DataPlane], secret_registry: dict[str, str]
) -> None:
    t = new_tenant(quota_stack, planes, secret_registry, "flow")
    admin = quota_stack.admin
    admin.CreatePolicy(
        admin_pb.CreatePolicyRequest(
            parent=t.workspace,
            policy_id="labels",
            policy=policy_pb2.Policy(
                target=t.workspace, record_labels=policy_pb2.Policy.GRANT_ALLOW
            ),
        )
    )
    amount = DOLLAR // 10
    create_budget(admin, t.workspace, "nightly", amount, scope=scope_pb2.Scope(workflow="nightly"))
    time.sleep(1.0)
    drive(planes[:2], t.key_text, callers=40, headers={"X-Oggy-Workflow": "nightly"})
    check_spend(quota_stack, t, amount, under_use=SMALL_UNDER_USE)

    async def other_workflow():
        client = async_client(planes[0].url, t.key_text)
        try:
            return await call(
                client, 0, TEXT, max_tokens=MAX_TOKENS, headers={"X-Oggy-Workflow": "daily"}
            )
        finally:
            await client.close()

    assert asyncio.run(other_workflow()).status == 200  # another workflow is not blocked


def test_a_soft_budget_records_each_crossing_once_and_never_blocks(
    quota_stack: Stack, planes: list[DataPlane], secret_registry: dict[str, str]
) -> None:
    t = new_tenant(quota_stack, planes, secret_registry, "soft")
    admin = quota_stack.admin
    amount = 100_000  # ten cents: about 30 requests
    name = create_budget(
        admin, t.workspace, "soft", amount,
        enforcement=budget_pb2.Budget.ENFORCEMENT_SOFT, thresholds=(50, 80, 100),
    )  # fmt: skip
    time.sleep(1.0)

    async def spend(n: int) -> list[int]:
        clients = [async_client(dp.url, t.key_text) for dp in planes[:2]]
        try:
            outs = await asyncio.gather(
                *(call(clients[i % 2], i % 2, TEXT, max_tokens=MAX_TOKENS) for i in range(n))
            )
            return [o.status for o in outs]
        finally:
            for c in clients:
                await c.close()

    statuses = asyncio.run(spend(60))  # about twice the amount
    assert set(statuses) == {200}, "a soft budget never refuses"

    def crossings() -> list[int]:
        found = admin.ListBudgetCrossings(admin_pb.ListBudgetCrossingsRequest(parent=name))
        return sorted(c.threshold_percent for c in found.crossings)

    wait_until(lambda: crossings() == [50, 80, 100], timeout=15, message="three crossings")
    asyncio.run(spend(10))
    time.sleep(3.0)  # several evaluations later
    assert crossings() == [50, 80, 100], "each threshold is recorded once"
