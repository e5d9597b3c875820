"""The control plane rides out etcd failures and comes back fast (issues from fault injection):

- etcd SIGKILLed for a while, then restarted: an admin write succeeds within 2 s of etcd
  being healthy again, and the change is served by a data plane within 5 s.
- etcd frozen (SIGSTOP: the socket stays open, nothing answers): admin calls fail with
  UNAVAILABLE within 2 s, and work again as soon as it is thawed.
- etcd out of space (its NOSPACE alarm, with a 1 MiB quota): writes fail with
  RESOURCE_EXHAUSTED and a message that says what to do, the control plane logs it once per
  episode and exports it on its metrics endpoint; after the operator frees space and
  disarms the alarm, writes work again and the gauge clears.

The bounds are the targets, checked with the shipped defaults (correctness bounds, not
benchmarks: the defaults meet them with room to spare). Measured times are printed.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aetcd
import grpc
import pytest

from oggy.v1 import admin_service_pb2 as admin_pb
from oggy.v1 import key_pb2, workspace_pb2
from tests.e2e.conftest import Stack, register_key, register_tenant, state_dir_secrets
from tests.support.oggy_clients import (
    AdminClient,
    Tenant,
    create_tenant,
    new_id,
    wait_key_accepted,
)
from tests.support.processes import (
    Processes,
    restart_etcd,
    start_control_plane,
    start_etcd,
    wait_for_line,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

T = TypeVar("T")

# Targets, from etcd healthy again: an admin write succeeds / data planes serve the change.
WRITE_BOUND_S = 2.0
SERVED_BOUND_S = 5.0
# While etcd is frozen, an admin call fails within this.
FROZEN_BOUND_S = 2.0
# Long enough for gRPC's default reconnect backoff (1 s, x1.6 per attempt) to have grown
# to about 10 s, as it had in the 21 s outage that took 5.5 s to recover from.
OUTAGE_S = 20.0


@pytest.fixture(scope="module")
def own_stack(stack_factory: Callable[[str], Stack]) -> Iterator[Stack]:
    stack = stack_factory("etcd-recovery")
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def own_tenant(own_stack: Stack, secret_registry: dict[str, str]) -> Tenant:
    tenant = create_tenant(own_stack.admin, own_stack.mock.url, own_stack.dp.url, prefix="etcd")
    return register_tenant(secret_registry, tenant)


@pytest.fixture(scope="module")
def no_retry_admin(own_stack: Stack) -> Iterator[AdminClient]:
    """An admin client that reports UNAVAILABLE at once instead of retrying."""
    client = AdminClient(own_stack.cp.address, own_stack.cp.admin_token, unavailable_wait=0)
    yield client
    client.close()


def create_key(admin: AdminClient, workspace: str, secrets: dict[str, str]) -> str:
    """A new gateway key (registered as a secret); returns its text."""
    response = admin.CreateGatewayKey(
        admin_pb.CreateGatewayKeyRequest(
            parent=workspace, gateway_key=key_pb2.GatewayKey(display_name="recovery")
        )
    )
    register_key(secrets, response.gateway_key.name, response.key_text)
    return response.key_text


def first_success(call: Callable[[], T], *, timeout: float) -> T:
    """Retry `call` while the control plane answers UNAVAILABLE, every 50 ms."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def assert_recovers(
    stack: Stack, tenant: Tenant, admin: AdminClient, secrets: dict[str, str], since: float
) -> tuple[float, float]:
    """A write, then the data plane serving it: seconds after `since` for each, bounded."""
    key_text = first_success(lambda: create_key(admin, tenant.workspace, secrets), timeout=15)
    written = time.monotonic() - since
    wait_key_accepted(stack.dp.url, key_text, timeout=15)
    served = time.monotonic() - since
    print(f"etcd healthy -> admin write {written:.2f}s, -> data plane serves it {served:.2f}s")
    assert written <= WRITE_BOUND_S, f"first admin write succeeded after {written:.2f}s"
    assert served <= SERVED_BOUND_S, f"data plane served the change after {served:.2f}s"
    return written, served


def test_admin_writes_and_data_planes_recover_fast_after_etcd_restarts(
    own_stack: Stack,
    own_tenant: Tenant,
    no_retry_admin: AdminClient,
    secret_registry: dict[str, str],
) -> None:
    own_stack.etcd.child.kill()
    with pytest.raises(grpc.RpcError) as down:
        create_key(no_retry_admin, own_tenant.workspace, secret_registry)
    assert down.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "etcd" in (down.value.details() or "")
    time.sleep(OUTAGE_S)  # the outage itself: what the reconnect backoff grows during

    own_stack.etcd = restart_etcd(own_stack.procs, own_stack.etcd)
    assert_recovers(own_stack, own_tenant, no_retry_admin, secret_registry, since=time.monotonic())


def test_admin_calls_fail_fast_while_etcd_is_frozen(
    own_stack: Stack,
    own_tenant: Tenant,
    no_retry_admin: AdminClient,
    secret_registry: dict[str, str],
) -> None:
    calls: dict[str, Callable[[], Any]] = {
        "write": lambda: create_key(no_retry_admin, own_tenant.workspace, secret_registry),
        "read": lambda: no_retry_admin.GetWorkspace(
            admin_pb.GetWorkspaceRequest(name=own_tenant.workspace)
        ),
        "list": lambda: no_retry_admin.ListGatewayKeys(
            admin_pb.ListGatewayKeysRequest(parent=own_tenant.workspace)
        ),
    }
    etcd_pid = own_stack.etcd.child.pid
    os.kill(etcd_pid, signal.SIGSTOP)
    try:
        for what, call in calls.items():
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as failed:
                call()
            elapsed = time.monotonic() - started
            print(f"etcd frozen: {what} failed after {elapsed:.2f}s: {failed.value.details()}")
            assert failed.value.code() == grpc.StatusCode.UNAVAILABLE, what
            assert "etcd" in (failed.value.details() or ""), what
            assert elapsed <= FROZEN_BOUND_S, f"{what} took {elapsed:.2f}s to fail"
    finally:
        os.kill(etcd_pid, signal.SIGCONT)
    assert_recovers(own_stack, own_tenant, no_retry_admin, secret_registry, since=time.monotonic())


# -- out of space -------------------------------------------------------------------------

QUOTA_BYTES = 1024 * 1024  # etcd accepts a quota this small; 70-odd 16 KiB values fill it
_METRICS_LINE = re.compile(r"controlplane metrics on (http://\S+/metrics)")
NOSPACE_GAUGE = 'oggy_etcd_alarm{alarm="NOSPACE"}'
NOSPACE_LOG = "etcd is out of space"
RECOVERED_LOG = "etcd has space again"


def etcd_client_run(url: str, op: Callable[[aetcd.Client], Any]) -> Any:
    parts = urllib.parse.urlsplit(url)

    async def run() -> Any:
        async with aetcd.Client(host=parts.hostname, port=parts.port, timeout=10) as client:
            return await op(client)

    return asyncio.run(run())


async def fill_until_nospace(client: aetcd.Client) -> int:
    """Write 16 KiB values until etcd refuses for lack of space; returns how many fit."""
    for i in range(10_000):
        try:
            await client.put(f"/filler/{i:05d}".encode(), os.urandom(16 * 1024))
        except aetcd.ClientError as e:
            assert "database space exceeded" in str(e), e
            return i
    raise AssertionError("etcd never ran out of space")


async def free_space(client: aetcd.Client) -> None:
    """What the error message tells an operator to do: delete, compact, defrag, disarm."""
    deleted = await client.delete_prefix(b"/filler/")
    await client.compact(deleted.header.revision, physical=True)
    await client.defragment()
    # As `etcdctl alarm disarm` does: member by member (member 0 matches no alarm).
    async for alarm in client.list_alarms():
        await client.disarm_alarm(alarm.member_id)


def gauge(metrics_url: str, series: str) -> float:
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == series:
            return float(value)
    raise AssertionError(f"{series} not in the metrics:\n{text}")


def test_etcd_out_of_space_is_explained_logged_once_and_exported(
    processes: Processes,
    tmp_path: Path,
    secret_registry: dict[str, str],
) -> None:
    etcd = start_etcd(
        processes, tmp_path / "etcd", extra_args=[f"--quota-backend-bytes={QUOTA_BYTES}"]
    )
    cp = start_control_plane(
        processes, etcd.url, tmp_path / "cp-state", extra_args=["--metrics", "127.0.0.1:0"]
    )
    for label, value in state_dir_secrets(cp.state_dir).items():
        secret_registry[f"nospace {label}"] = value
    metrics_url = wait_for_line(cp.child, _METRICS_LINE, 10).group(1)
    admin = AdminClient(cp.address, cp.admin_token, unavailable_wait=0)

    def create_workspace() -> Any:
        return admin.CreateWorkspace(
            admin_pb.CreateWorkspaceRequest(
                workspace_id=new_id("full"), workspace=workspace_pb2.Workspace()
            )
        )

    try:
        create_workspace()
        assert gauge(metrics_url, NOSPACE_GAUGE) == 0
        assert gauge(metrics_url, "oggy_etcd_up") == 1

        assert etcd_client_run(etcd.url, fill_until_nospace) > 0
        for _ in range(3):
            with pytest.raises(grpc.RpcError) as full:
                create_workspace()
            assert full.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            message = full.value.details() or ""
            for advice in ("out of space", "compact", "defrag", "alarm disarm", "quota"):
                assert advice in message, f"{advice!r} not in {message!r}"
        print(f"etcd out of space: {message}")
        # Reads still work: only writes need space.
        admin.ListWorkspaces(admin_pb.ListWorkspacesRequest())
        assert gauge(metrics_url, NOSPACE_GAUGE) == 1
        assert cp.child.stderr().count(NOSPACE_LOG) == 1, cp.child.tail()

        etcd_client_run(etcd.url, free_space)
        create_workspace()
        assert gauge(metrics_url, NOSPACE_GAUGE) == 0
        assert cp.child.stderr().count(RECOVERED_LOG) == 1, cp.child.tail()
        assert cp.child.stderr().count(NOSPACE_LOG) == 1, cp.child.tail()
    finally:
        admin.close()
        cp.child.stop()
        etcd.child.stop()
