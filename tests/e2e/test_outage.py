"""Static stability and no lost usage: with the control plane SIGKILLed the data plane keeps
serving, and the usage of every request made during the outage reaches the store once the
control plane is back on the same port and state dir: no event lost, none counted twice
(DESIGN invariants 1 and 2)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest

from oggy.v1 import admin_service_pb2 as admin_pb
from oggy.v1 import usage_service_pb2
from tests.e2e.conftest import Stack, register_tenant
from tests.support.oggy_clients import (
    MODEL,
    Tenant,
    WaitTimeout,
    chat_body,
    create_tenant,
    http_request,
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
    own_stack.ensure_control_plane()
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


def spooled_request_ids(spool_dir: Path) -> set[str]:
    """Request ids of the usage events in the data plane's spool segments.

    Format (dataplane/usage/spool.py): records of u32 length | u32 crc32 | serialized
    ReportUsageRequest, big-endian; a torn tail record is ignored."""
    found: set[str] = set()
    for segment in sorted(spool_dir.glob("*.seg")):
        data = segment.read_bytes()
        offset = 0
        while offset + 8 <= len(data):
            length, crc = struct.unpack_from(">II", data, offset)
            payload = data[offset + 8 : offset + 8 + length]
            if len(payload) < length or zlib.crc32(payload) != crc:
                break
            batch = usage_service_pb2.ReportUsageRequest.FromString(payload)
            found.update(e.request_id for e in batch.events)
            offset += 8 + length
    return found


def test_spooled_usage_survives_a_data_plane_crash(own_stack: Stack, own_tenant: Tenant) -> None:
    """Control plane down, then the data plane SIGKILLed once its events are on disk: the
    next data plane process on that spool dir sends them, once."""
    dp = own_stack.start_dataplane("dp-spool")
    wait_key_accepted(dp.url, own_tenant.key_text)
    with openai_client(dp.url, own_tenant.key_text) as client:
        own_stack.cp.child.kill()
        during = send(client, 4, "spooled")
    wait_until(
        lambda: set(during) <= spooled_request_ids(dp.spool_dir),
        timeout=5,
        message="usage events durable in the spool",
    )
    dp.child.kill()

    own_stack.restart_control_plane()
    own_stack.start_dataplane("dp-spool", spool_dir=dp.spool_dir)
    assert_exactly_once(own_stack, own_tenant, during)
    wait_until(
        lambda: not spooled_request_ids(dp.spool_dir),
        timeout=5,
        message="acknowledged batches leave the spool",
    )


def test_data_plane_cold_starts_from_its_snapshot_file(
    own_stack: Stack, own_tenant: Tenant, tmp_path: Path
) -> None:
    """A data plane restarted while the control plane is down serves from the last good
    snapshot it wrote; one with no snapshot answers 503 not_ready."""
    snapshot_file = tmp_path / "snapshot.pb"
    dp = own_stack.start_dataplane("dp-snap", f"--snapshot-file={snapshot_file}")
    wait_key_accepted(dp.url, own_tenant.key_text)
    wait_until(snapshot_file.is_file, timeout=5, message="snapshot file written")
    own_stack.cp.child.kill()
    dp.child.kill()

    cold = own_stack.start_dataplane("dp-no-snap", wait_ready=False)
    assert http_request("GET", f"{cold.url}/readyz").status == 503
    refused = http_request(
        "POST",
        f"{cold.url}/v1/chat/completions",
        chat_body("anyone?"),
        headers={"authorization": f"Bearer {own_tenant.key_text}"},
    )
    assert refused.status == 503
    assert refused.json()["error"]["code"] == "not_ready"

    warm = own_stack.start_dataplane(
        "dp-snap", f"--snapshot-file={snapshot_file}", spool_dir=dp.spool_dir
    )
    with openai_client(warm.url, own_tenant.key_text) as client:
        served = send(client, 2, "from-snapshot")

    own_stack.restart_control_plane()
    assert_exactly_once(own_stack, own_tenant, served)
