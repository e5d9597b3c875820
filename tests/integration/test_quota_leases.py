"""QuotaService against real control planes (create_server) on real etcd, spoken to over
real gRPC channels by fake data planes following proto/oggy/v1/quota_protocol.md: grants stay within
capacity, a follower redirects to the leader, and when the leader goes the follower
takes over, confirming only committed amounts for its first lease_ttl.

Limits are not published from etcd yet (the admin branch adds that), so each control
plane's rule book is given a snapshot holding the limit.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from controlplane.quota.allocator import HANDOVER_LEASE_TTLS
from controlplane.quota.rules import RuleBook
from controlplane.server import ControlPlaneServer, create_server
from controlplane.settings import Settings
from oggy.contract.windows import fixed_window
from oggy.v1 import config_service_pb2, limit_pb2, snapshot_pb2
from oggy.v1 import quota_service_pb2 as pb
from oggy.v1 import quota_service_pb2_grpc as quota_grpc
from tests.support.etcd import etcd_endpoint_fixture, unique_prefix  # noqa: F401

LIMIT = "workspaces/acme/limits/rpm"
CAPACITY = 100
WINDOW_S = 3600
LEASE_TTL = 1.0
NODE_TOKEN = "node-token-for-quota-tests"
ELECTION_WAIT_S = 15.0


def limit_snapshot() -> snapshot_pb2.Snapshot:
    return snapshot_pb2.Snapshot(
        revision=1,
        limits=[
            limit_pb2.Limit(
                name=LIMIT,
                metric=limit_pb2.Limit.METRIC_REQUESTS,
                capacity=CAPACITY,
                window=Duration(seconds=WINDOW_S),
            )
        ],
    )


async def start_cp(etcd: str, prefix: str, state: Path) -> tuple[ControlPlaneServer, str]:
    settings = Settings.from_flags(
        state_dir=state,
        etcd=etcd,
        grpc="127.0.0.1:0",
        etcd_prefix=prefix,
        lease_ttl_s=LEASE_TTL,
        quota_report_interval_s=0.2,
        election_ttl_s=2,
        environ={"OGGY_NODE_TOKEN": NODE_TOKEN},
    )
    cp, port = await create_server(settings)
    snapshot = limit_snapshot()
    cp.quota.rules = RuleBook(lambda: snapshot)
    return cp, f"127.0.0.1:{port}"


class FakeDataPlane:
    """One lease stream: reports one counter, applies leases as held = max(used, granted)."""

    def __init__(self, address: str, node: str) -> None:
        self.node = node
        self.channel = grpc.aio.insecure_channel(address)
        self.call = quota_grpc.QuotaServiceStub(self.channel).StreamLeases(
            metadata=(("authorization", f"Bearer {NODE_TOKEN}"),)
        )
        self.used = self.held = self.applied = 0
        self.first = True

    async def report(self, wants: int | None) -> pb.StreamLeasesResponse:
        """Report the counter (None: nothing yet, just connect)."""
        window = fixed_window(time.time(), WINDOW_S).start
        request = pb.StreamLeasesRequest(applied_sequence=self.applied)
        if wants is not None:
            counter = pb.QuotaCounter(rule=LIMIT, window_start=window)
            request.reports.append(
                pb.QuotaReport(counter=counter, used=self.used, held=self.held, wants=wants)
            )
        if self.first:
            request.node.CopyFrom(config_service_pb2.Node(id=self.node))
            self.first = False
        await self.call.write(request)
        response = await asyncio.wait_for(self.call.read(), 10)
        for lease in response.leases:
            self.held = max(self.used, lease.granted)
            self.applied = response.sequence
        return response

    async def close(self) -> None:
        self.call.cancel()
        await self.channel.close()


async def leader_of(*cps: ControlPlaneServer) -> ControlPlaneServer:
    deadline = time.monotonic() + ELECTION_WAIT_S
    while time.monotonic() < deadline:
        leaders = [cp for cp in cps if cp.quota.is_leader]
        if len(leaders) == 1:
            return leaders[0]
        await asyncio.sleep(0.05)
    raise AssertionError("no single quota allocator elected")


@pytest.fixture
async def pair(etcd_endpoint: str, tmp_path: Path) -> AsyncIterator[list]:
    prefix = unique_prefix()
    started = []
    try:
        started.append(await start_cp(etcd_endpoint, prefix, tmp_path / "cp0"))
        # Replicas share the KEK (the store's data is encrypted with it).
        (tmp_path / "cp1").mkdir(mode=0o700)
        shutil.copy2(tmp_path / "cp0" / "kek", tmp_path / "cp1" / "kek")
        started.append(await start_cp(etcd_endpoint, prefix, tmp_path / "cp1"))
        yield started
    finally:
        for cp, _ in started:
            await cp.stop(None)


async def test_grants_stay_within_capacity_and_follower_redirects(pair) -> None:
    (cp_a, addr_a), (cp_b, addr_b) = pair
    leader = await leader_of(cp_a, cp_b)
    leader_addr, follower_addr = (addr_a, addr_b) if leader is cp_a else (addr_b, addr_a)
    await asyncio.sleep(HANDOVER_LEASE_TTLS * LEASE_TTL)  # past the hand-over period

    stray = FakeDataPlane(follower_addr, "dp-stray")
    nodes = [FakeDataPlane(leader_addr, f"dp-{i}") for i in range(3)]
    try:
        redirect = await stray.report(50)
        assert redirect.leader == leader_addr
        assert list(redirect.leases) == []
        assert redirect.report_interval.ToMilliseconds() == 200

        for n in nodes:  # all connected before demand arrives
            await n.report(None)
        for _ in range(4):
            for n in nodes:
                response = await n.report(CAPACITY)
                assert response.leader == ""
                assert response.data_plane_count == 3
                granted = sum(max(m.held, 0) for m in nodes)
                assert granted <= CAPACITY
        assert sum(n.held for n in nodes) >= CAPACITY - 3
        assert all(abs(n.held - CAPACITY // 3) <= 2 for n in nodes)
        sequences = [(await nodes[0].report(CAPACITY)).sequence for _ in range(2)]
        assert sequences[1] == sequences[0] + 1
    finally:
        for n in (stray, *nodes):
            await n.close()


async def test_follower_takes_over_and_honours_committed_amounts(pair) -> None:
    (cp_a, addr_a), (cp_b, addr_b) = pair
    leader = await leader_of(cp_a, cp_b)
    follower, follower_addr = (cp_b, addr_b) if leader is cp_a else (cp_a, addr_a)
    await asyncio.sleep(HANDOVER_LEASE_TTLS * LEASE_TTL)
    old = FakeDataPlane(addr_a if leader is cp_a else addr_b, "dp-1")
    try:
        await old.report(30)
        await old.report(30)
        assert old.held == 30
    finally:
        await old.close()

    await leader.stop(None)  # resigns: the follower is elected at once
    assert await leader_of(follower) is follower

    dp = FakeDataPlane(follower_addr, "dp-1")
    other = FakeDataPlane(follower_addr, "dp-2")
    try:
        dp.held, dp.used = 30, 5
        response = await dp.report(90)
        assert [lease.granted for lease in response.leases] == [30]  # committed only
        response = await other.report(50)
        assert [lease.granted for lease in response.leases] == [0]
        await asyncio.sleep(HANDOVER_LEASE_TTLS * LEASE_TTL + 0.1)
        await dp.report(90)
        await other.report(50)
        assert dp.held > 30 and other.held > 0
        assert dp.held + other.held <= CAPACITY
    finally:
        await dp.close()
        await other.close()
