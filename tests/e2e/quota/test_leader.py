"""Two control planes on one etcd: one allocates quota, and when it is killed under load
the other takes over through etcd's election, with the limit holding throughout."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from oggy.v1 import limit_pb2, scope_pb2
from tests.e2e.conftest import Stack, register_tenant
from tests.e2e.quota.support import (
    admitted_per_window,
    async_client,
    create_limit,
    paced,
    sleep_to_window_start,
)
from tests.support.oggy_clients import create_tenant, wait_key_accepted
from tests.support.processes import ControlPlane, DataPlane, start_control_plane, start_data_plane

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

WINDOW_S = 6
CAPACITY = 60
DEMAND = 4 * CAPACITY / WINDOW_S
TOLERANCE = 0.05


@pytest.fixture(scope="module")
def two_control_planes(
    stack_factory: Callable[[str], Stack],
) -> Iterator[tuple[Stack, ControlPlane]]:
    stack = stack_factory("leader")  # its control plane starts first: the allocator
    follower = start_control_plane(stack.procs, stack.etcd.url, stack.cp.state_dir)
    yield stack, follower
    follower.child.stop()
    stack.stop()


def test_a_follower_takes_over_allocation_and_the_limit_holds(
    two_control_planes: tuple[Stack, ControlPlane], secret_registry: dict[str, str]
) -> None:
    stack, follower = two_control_planes
    # Both data planes talk to the follower; their lease streams are sent on to the leader.
    planes: list[DataPlane] = [
        start_data_plane(
            stack.procs, follower, stack.root / f"spool-leader-{i}", node_id=f"dp-leader-{i}"
        )
        for i in range(2)
    ]
    try:
        t = register_tenant(
            secret_registry,
            create_tenant(stack.admin, stack.mock.url, planes[0].url, prefix="leader"),
        )
        wait_key_accepted(planes[1].url, t.key_text)
        create_limit(
            stack.admin, t.workspace, "rpm",
            scope=scope_pb2.Scope(key=t.key_name),
            metric=limit_pb2.Limit.METRIC_REQUESTS, capacity=CAPACITY,
            window={"seconds": WINDOW_S},
        )  # fmt: skip
        time.sleep(1.0)
        sleep_to_window_start(WINDOW_S)
        killer = threading.Timer(WINDOW_S * 1.5, stack.cp.child.kill)
        killer.start()

        async def go():
            clients = [async_client(dp.url, t.key_text) for dp in planes]
            try:
                return await paced(clients, lambda i: i % 2, DEMAND, 5 * WINDOW_S)
            finally:
                for c in clients:
                    await c.close()

        outcomes = asyncio.run(go())
        ended_at = time.time()
        killer.join()
        counts = admitted_per_window(outcomes, WINDOW_S)
        print(f"leader killed 1.5 windows in; admitted per {WINDOW_S} s window: {counts}")
        for plane in range(2):
            mine = admitted_per_window([o for o in outcomes if o.plane == plane], WINDOW_S)
            print(f"  data plane {plane}: {mine}")
        for n in counts.values():
            assert n <= (1 + TOLERANCE) * CAPACITY, counts
        # Once the follower allocates, the limit is used again, not just its fallback shares.
        last = max(start for start in counts if start + WINDOW_S <= ended_at)
        assert counts[last] >= 0.9 * CAPACITY, counts
    finally:
        for dp in planes:
            dp.child.stop()
