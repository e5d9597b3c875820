"""The lease stream end to end: a tiny QuotaService on loopback leases quota to the real
lease client, which drives the real data plane app; the official `openai` client sees the
429 and 402 those leases imply. Also: the first message names the node, applied
sequences come back, a `leader` redirect is followed, expiry falls back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import openai
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from dataplane.backoff import Backoff
from dataplane.quota.client import QuotaLeaseClient, ServedRules
from dataplane.settings import Settings
from oggy.v1 import quota_service_pb2 as q
from oggy.v1 import quota_service_pb2_grpc
from tests.integration.dataplane_fakes import TOKEN
from tests.integration.quota_support import Limit, QuotaEnv, budget, limit, quota_app
from tests.integration.test_dataplane_quota import HI, with_rules

RPM = "workspaces/acme/limits/rpm"
DAILY = "workspaces/acme/budgets/daily"


class FakeQuota(quota_service_pb2_grpc.QuotaServiceServicer):
    """Grants each counter of a rule in `grants` that fixed amount; or redirects to `leader`."""

    def __init__(
        self, grants: dict[str, int] | None = None, leader: str | None = None, ttl_s: float = 3
    ) -> None:
        self.grants = grants or {}
        self.leader = leader
        self.ttl_s = ttl_s
        self.requests: list[q.StreamLeasesRequest] = []
        self.got = asyncio.Event()

    async def StreamLeases(self, request_iterator, context):
        auth = dict(context.invocation_metadata()).get("authorization", "")
        if auth != f"Bearer {TOKEN}":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad node token")
        sequence = 0
        async for request in request_iterator:
            self.requests.append(request)
            self.got.set()
            sequence += 1
            if self.leader is not None:
                yield q.StreamLeasesResponse(leader=self.leader, sequence=sequence)
                continue
            expire = Timestamp()
            expire.FromNanoseconds(int((time.time() + self.ttl_s) * 1e9))
            leases = [
                q.QuotaLease(
                    counter=r.counter,
                    granted=self.grants[r.counter.rule],
                    expire_time=expire,
                    used_everywhere=r.used,
                )
                for r in request.reports
                if r.counter.rule in self.grants
            ]
            yield q.StreamLeasesResponse(
                leases=leases,
                data_plane_count=1,
                report_interval=Duration(nanos=100_000_000),
                sequence=sequence,
            )


async def start_fake(servicer: FakeQuota) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    quota_service_pb2_grpc.add_QuotaServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


async def eventually(check, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def lease_client(env: QuotaEnv, address: str) -> QuotaLeaseClient:
    settings = Settings(control_plane=address, node_token=TOKEN, node_id="dp-quota-test")
    client = QuotaLeaseClient(
        settings, env.table, ServedRules(env.holder), backoff=Backoff(0.01, 0.05)
    )
    await client.start()
    return client


@pytest.fixture
async def env() -> AsyncIterator[QuotaEnv]:
    rules = with_rules(limit("rpm", Limit.METRIC_REQUESTS, 100), budget("daily", 10**9))
    async with quota_app(rules, lease=False) as e:
        yield e


async def test_leases_drive_429_and_402_in_the_openai_client(env: QuotaEnv) -> None:
    fake = FakeQuota({RPM: 2, DAILY: 10**9})
    server, address = await start_fake(fake)
    client = await lease_client(env, address)
    try:
        await eventually(lambda: env.table.ever_leased)
        first = fake.requests[0]
        assert first.node.id == "dp-quota-test" and first.applied_sequence == 0
        assert {r.counter.rule for r in first.reports} == {RPM, DAILY}
        sdk = env.openai()
        for _ in range(2):
            await sdk.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=5)
        with pytest.raises(openai.RateLimitError) as caught:
            await sdk.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=5)
        assert RPM in caught.value.body["message"]  # type: ignore[index]
        # The refusal reports early; later reports say which response was applied.
        await eventually(lambda: any(r.applied_sequence > 0 for r in fake.requests))
        rpm_reports = [r for req in fake.requests for r in req.reports if r.counter.rule == RPM]
        assert rpm_reports[-1].used == 2

        fake.grants[DAILY] = 1  # the budget's headroom is gone everywhere else
        fake.grants[RPM] = 100
        # Reports release held down to what is wanted; the leases grant no more.
        await eventually(
            lambda: all(
                c.held == c.used for c in env.table.current(time.time()) if c.plan.is_budget
            )
        )
        with pytest.raises(openai.APIStatusError) as budget_caught:
            await sdk.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=5)
        assert budget_caught.value.status_code == 402
        assert budget_caught.value.body["code"] == "budget_exceeded"  # type: ignore[index]
    finally:
        await client.stop()
        await server.stop(0)


async def test_leader_redirect_is_followed(env: QuotaEnv) -> None:
    allocator = FakeQuota({RPM: 5, DAILY: 10**9})
    allocator_server, allocator_address = await start_fake(allocator)
    follower = FakeQuota(leader=allocator_address)
    follower_server, follower_address = await start_fake(follower)
    client = await lease_client(env, follower_address)
    try:
        await eventually(lambda: env.table.ever_leased)
        assert client.leader == allocator_address
        assert follower.requests[0].node.id == allocator.requests[0].node.id == "dp-quota-test"
        assert not env.table.fallback_active(time.time())
    finally:
        await client.stop()
        await allocator_server.stop(0)
        await follower_server.stop(0)


async def test_expired_leases_fall_back(env: QuotaEnv) -> None:
    fake = FakeQuota({RPM: 5, DAILY: 10**9}, ttl_s=0.3)
    server, address = await start_fake(fake)
    client = await lease_client(env, address)
    try:
        await eventually(lambda: env.table.ever_leased)
        await server.stop(0)
        await eventually(lambda: env.table.fallback_active(time.time()))
        async with env.http.get(env.base + "/metrics") as r:
            assert "oggy_quota_fallback_active 1.0" in await r.text()
        # Windows it holds a lease for keep what it held (protocol 9): retries to reach
        # the control plane release nothing.
        held = {(c.plan.name, c.start): c.held for c in env.table.current(time.time())}
        await asyncio.sleep(0.5)
        assert {(c.plan.name, c.start): c.held for c in env.table.current(time.time())} == held
    finally:
        await client.stop()
