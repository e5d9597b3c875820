"""A bad config in one workspace never stalls the fleet (real etcd, control plane and two
data plane processes).

The admin API refuses a write the data planes could not compile. The same bad policy
written straight into etcd (`<prefix>workspaces/{w}/policies/{p}`, as etcdctl, a buggy or
an older control plane could) is held back by the control plane: its workspace keeps its
last good config, ListDataPlanes shows why, no data plane rejects anything, and every other
workspace's changes go out as usual: a key revoked elsewhere (or in the held-back workspace
itself) stops working on every data plane within a second."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Callable, Iterator

import aetcd
import grpc
import pytest

from oggy.v1 import admin_service_pb2 as admin_pb
from oggy.v1 import policy_pb2
from tests.e2e.conftest import Stack, register_key, register_tenant
from tests.support.oggy_clients import (
    Tenant,
    chat_body,
    create_key,
    create_tenant,
    http_request,
    wait_key_accepted,
    wait_until,
)
from tests.support.processes import DataPlane

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

ETCD_PREFIX = "/oggy/"
REVOKE_DEADLINE_S = 1.0
BAD_GLOB = "gpt-[4"


@pytest.fixture(scope="module")
def own_stack(stack_factory: Callable[[str], Stack]) -> Iterator[Stack]:
    stack = stack_factory("fleet")
    stack.start_dataplane("dp-fleet-2")
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def dataplanes(own_stack: Stack) -> list[DataPlane]:
    return [own_stack.dp, *own_stack.extra_dataplanes]


def tenant(stack: Stack, secrets: dict[str, str], prefix: str, dps: list[DataPlane]) -> Tenant:
    t = register_tenant(
        secrets, create_tenant(stack.admin, stack.mock.url, dps[0].url, prefix=prefix)
    )
    for dp in dps[1:]:
        wait_key_accepted(dp.url, t.key_text)
    return t


def etcd_call(url: str, op: Callable[[aetcd.Client], object]) -> None:
    parts = urllib.parse.urlsplit(url)

    async def run() -> None:
        async with aetcd.Client(host=parts.hostname, port=parts.port) as client:
            await op(client)

    asyncio.run(run())


def chat_status(dp: DataPlane, key_text: str) -> int:
    return http_request(
        "POST",
        f"{dp.url}/v1/chat/completions",
        chat_body("still there?"),
        headers={"authorization": f"Bearer {key_text}"},
    ).status


def models_status(dp: DataPlane, key_text: str) -> int:
    return http_request(
        "GET", f"{dp.url}/v1/models", headers={"authorization": f"Bearer {key_text}"}
    ).status


def fleet(stack: Stack) -> admin_pb.ListDataPlanesResponse:
    return stack.admin.ListDataPlanes(admin_pb.ListDataPlanesRequest())


def converged(status: admin_pb.ListDataPlanesResponse) -> list | None:
    """The data planes, once each has applied the published revision."""
    planes = list(status.data_planes)
    done = all(p.applied_revision == status.published_revision for p in planes)
    return planes if done else None


def test_a_bad_workspace_is_refused_or_held_back_and_never_stalls_the_fleet(
    own_stack: Stack, dataplanes: list[DataPlane], secret_registry: dict[str, str]
) -> None:
    stack = own_stack
    a = tenant(stack, secret_registry, "fleet-a", dataplanes)
    b = tenant(stack, secret_registry, "fleet-b", dataplanes)
    a2_name, a2_text = create_key(stack.admin, a.workspace)
    register_key(secret_registry, a2_name, a2_text)
    for dp in dataplanes:
        wait_key_accepted(dp.url, a2_text)

    # 1. Through the API: refused with the compiler's reason.
    for glob in (BAD_GLOB, "gpt=4o"):
        with pytest.raises(grpc.RpcError) as caught:
            stack.admin.CreatePolicy(
                admin_pb.CreatePolicyRequest(
                    parent=a.workspace,
                    policy_id="via-api",
                    policy=policy_pb2.Policy(target=a.workspace, allowed_models=[glob]),
                )
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert repr(glob) in caught.value.details()

    # 2. Around the API: workspace A is held back, visibly. Were the policy applied, no
    # model would match it and A's requests would be refused: a 200 proves it was not.
    bad = policy_pb2.Policy(
        name=f"{a.workspace}/policies/etcdctl", target=a.workspace, allowed_models=[BAD_GLOB]
    )
    key = f"{ETCD_PREFIX}{bad.name}".encode()
    etcd_call(stack.etcd.url, lambda c: c.put(key, bad.SerializeToString()))
    status = wait_until(
        lambda: (r := fleet(stack)).held_workspaces and r,
        timeout=10,
        message="workspace A held back in ListDataPlanes",
    )
    [held] = status.held_workspaces
    assert held.workspace == a.workspace and repr(BAD_GLOB) in held.error
    assert held.held_revision and held.failed_revision > held.held_revision

    # 3. A key revoked in workspace B stops working on every data plane within a second;
    # so does one revoked in the held-back workspace A (access taken away always goes out).
    for key_name, key_text in ((b.key_name, b.key_text), (a2_name, a2_text)):
        started = time.monotonic()
        stack.admin.RevokeGatewayKey(admin_pb.RevokeGatewayKeyRequest(name=key_name))
        for dp in dataplanes:
            remaining = REVOKE_DEADLINE_S - (time.monotonic() - started)
            wait_until(
                lambda dp=dp, key_text=key_text: models_status(dp, key_text) == 401,
                timeout=max(remaining, 0.0),
                interval=0.02,
                message=f"{key_name} refused by {dp.node_id}",
            )
        assert time.monotonic() - started <= REVOKE_DEADLINE_S

    # Workspace A still serves its last good config everywhere; nobody rejected anything.
    for dp in dataplanes:
        assert chat_status(dp, a.key_text) == 200
    planes = wait_until(
        lambda: converged(fleet(stack)),
        timeout=10,
        message="every data plane applied the published revision",
    )
    assert sorted(p.node_id for p in planes) == sorted(dp.node_id for dp in dataplanes)
    assert all(p.connected and p.nack_count == 0 for p in planes)

    # 4. Repaired: the hold is lifted and A's changes flow again.
    etcd_call(stack.etcd.url, lambda c: c.delete(key))
    wait_until(lambda: not fleet(stack).held_workspaces, timeout=10, message="hold lifted")
    key_name, key_text = create_key(stack.admin, a.workspace)
    register_key(secret_registry, key_name, key_text)
    for dp in dataplanes:
        wait_key_accepted(dp.url, key_text)
        assert chat_status(dp, key_text) == 200
