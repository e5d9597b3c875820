"""Static stability under bad config (DESIGN invariant 2): a config version the data plane
cannot compile is NACKed and the previous one keeps serving; once the bad resource is gone,
new config flows again.

The control plane's own validation refuses an invalid CIDR, so the bad policy is written
straight into etcd under the documented layout (`<prefix>workspaces/{w}/policies/{p}`), as
a buggy or older control plane, or an operator with etcdctl, could do."""

from __future__ import annotations

import asyncio
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

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

ETCD_PREFIX = "/oggy/"
REJECTED = "rejected config"


@pytest.fixture(scope="module")
def own_stack(stack_factory: Callable[[str], Stack]) -> Iterator[Stack]:
    stack = stack_factory("nack")
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def own_tenant(own_stack: Stack, secret_registry: dict[str, str]) -> Tenant:
    tenant = create_tenant(own_stack.admin, own_stack.mock.url, own_stack.dp.url, prefix="nack")
    return register_tenant(secret_registry, tenant)


def etcd_call(url: str, op: Callable[[aetcd.Client], object]) -> None:
    parts = urllib.parse.urlsplit(url)

    async def run() -> None:
        async with aetcd.Client(host=parts.hostname, port=parts.port) as client:
            await op(client)

    asyncio.run(run())


def chat_status(stack: Stack, key_text: str) -> int:
    return http_request(
        "POST",
        f"{stack.dp.url}/v1/chat/completions",
        chat_body("still there?"),
        headers={"authorization": f"Bearer {key_text}"},
    ).status


def test_bad_config_is_nacked_and_old_config_keeps_serving(
    own_stack: Stack, own_tenant: Tenant, secret_registry: dict[str, str]
) -> None:
    assert chat_status(own_stack, own_tenant.key_text) == 200
    bad = policy_pb2.Policy(
        name=f"{own_tenant.workspace}/policies/bad-cidr",
        target=own_tenant.workspace,
        # Were this applied, 127.0.0.1 would be refused: a 200 below proves it was not.
        allowed_cidrs=["10.0.0.0/8", "not-a-cidr"],
    )
    with pytest.raises(grpc.RpcError) as caught:
        own_stack.admin.CreatePolicy(
            admin_pb.CreatePolicyRequest(
                parent=own_tenant.workspace, policy_id="via-api", policy=bad
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    rejected_before = own_stack.dp.child.stderr().count(REJECTED)
    key = f"{ETCD_PREFIX}{bad.name}".encode()
    etcd_call(own_stack.etcd.url, lambda c: c.put(key, bad.SerializeToString()))

    wait_until(
        lambda: own_stack.dp.child.stderr().count(REJECTED) > rejected_before,
        timeout=10,
        message="data plane logs the NACK",
    )
    assert "bad-cidr" in own_stack.dp.child.stderr().split(REJECTED)[-1].splitlines()[0]
    for _ in range(3):
        assert chat_status(own_stack, own_tenant.key_text) == 200
    assert http_request("GET", f"{own_stack.dp.url}/readyz").status == 200

    # Once the bad resource is gone, config flows again: a new key starts working.
    etcd_call(own_stack.etcd.url, lambda c: c.delete(key))
    key_name, key_text = create_key(own_stack.admin, own_tenant.workspace)
    register_key(secret_registry, key_name, key_text)
    wait_key_accepted(own_stack.dp.url, key_text)
    assert chat_status(own_stack, key_text) == 200
    assert chat_status(own_stack, own_tenant.key_text) == 200
