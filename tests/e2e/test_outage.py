"""Static stability and no lost usage: with the control plane SIGKILLed the data plane keeps
serving, and the usage of every request made during the outage reaches the store once the
control plane is back on the same port and state dir: no event lost, none counted twice
(DESIGN invariants 1 and 2)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import openai
import pytest

from oggy.v1 import admin_service_pb2 as admin_pb
from tests.e2e.conftest import Stack, register_tenant
from tests.support.oggy_clients import (
    MODEL,
    Tenant,
    WaitTimeout,
    create_tenant,
    list_usage,
    openai_client,
    wait_for_requests,
    wait_key_accepted,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


@pytest.fixture(scope="module")
def own_stack(stack_factory: Callable[[str], Stack]) -> Iterator[Stack]:
    stack = stack_factory("outage")
    yield stack
    stack.stop()


@pytest.fixture
def own_tenant(own_stack: Stack, secret_registry: dict[str, str]) -> Tenant:
    tenant = create_tenant(own_stack.admin, own_stack.mock.url, own_stack.dp.url, prefix="outage")
    return register_tenant(secret_registry, tenant)


def send(client: openai.OpenAI, n: int, tag: str) -> list[str]:
    """`n` successful requests, alternating plain and streaming; their x-request-ids."""
    request_ids = []
    for i in range(n):
        raw = client.chat.completions.with_raw_response.create(
            model=MODEL,
            messages=[{"role": "user", "content": f"{tag} {i}"}],
            stream=i % 2 == 1,
        )
        if i % 2:
            assert "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
        else:
            assert raw.parse().choices[0].message.content
        request_ids.append(raw.headers.get("x-request-id", ""))
    return request_ids


def assert_exactly_once(stack: Stack, tenant: Tenant, request_ids: list[str]) -> None:
    assert len(set(request_ids)) == len(request_ids), "data plane reused a request id"
    events = wait_for_requests(stack.admin, tenant.workspace, request_ids, timeout=20)
    assert len(events) == len(request_ids)

    # Nothing more trickles in later (a replayed batch re-keyed would show up here).
    with pytest.raises(WaitTimeout):
        wait_until(
            lambda: len(list_usage(stack.admin, tenant.workspace)) > len(request_ids),
            timeout=1.0,
            message="extra usage events",
        )
    stored = list_usage(stack.admin, tenant.workspace, key=tenant.key_name)
    assert sorted(e.request_id for e in stored) == sorted(request_ids)
    assert len({e.event_id for e in stored}) == len(stored), "duplicate event ids"
    # The aggregate agrees: every event of the workspace (GET /v1/models ones included)
    # counted once.
    everything = list_usage(stack.admin, tenant.workspace, endpoint=None)
    summary = stack.admin.SummarizeUsage(
        admin_pb.SummarizeUsageRequest(filter=admin_pb.UsageFilter(workspace=tenant.workspace))
    )
    assert [row.requests for row in summary.rows] == [len(everything)]


def test_usage_during_control_plane_outage_is_delivered_once(
    own_stack: Stack, own_tenant: Tenant
) -> None:
    with openai_client(own_stack.dp.url, own_tenant.key_text) as client:
        before = send(client, 3, "before")
        wait_for_requests(own_stack.admin, own_tenant.workspace, before)

        own_stack.cp.child.kill()
        during = send(client, 6, "during")

        own_stack.restart_control_plane()
        after = send(client, 2, "after")

    assert_exactly_once(own_stack, own_tenant, before + during + after)


def test_spooled_usage_survives_a_data_plane_restart(own_stack: Stack, own_tenant: Tenant) -> None:
    """Control plane down, data plane stopped: the events wait in the spool and are sent by
    the next data plane process on that spool dir."""
    dp = own_stack.start_dataplane("dp-spool")
    wait_key_accepted(dp.url, own_tenant.key_text)
    with openai_client(dp.url, own_tenant.key_text) as client:
        own_stack.cp.child.kill()
        during = send(client, 4, "spooled")
    assert dp.child.stop(timeout=15) is not None

    own_stack.restart_control_plane()
    own_stack.start_dataplane("dp-spool", spool_dir=dp.spool_dir)
    assert_exactly_once(own_stack, own_tenant, during)
