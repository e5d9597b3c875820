"""Gateway key lifecycle on running data planes: rotation with a grace period (both
secrets work, the old one stops at its deadline, the key keeps its name and its usage),
expiry (`key_expired` once `expire_time` passes) and revocation reaching two data plane
processes within a second."""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest
from google.protobuf import timestamp_pb2

from oggy.v1 import admin_service_pb2 as admin_pb
from oggy.v1 import key_pb2, usage_pb2
from tests.e2e.conftest import Stack, register_key
from tests.e2e.identity.conftest import (
    Outcome,
    chat,
    chat_once,
    new_key,
    sdk,
    seconds,
    wait_outcome,
    wait_past,
)
from tests.support.oggy_clients import (
    MODEL,
    Tenant,
    chat_body,
    http_request,
    list_usage,
    wait_for_requests,
    wait_key_accepted,
)
from tests.support.processes import DataPlane

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

GRACE_S = 2.0
EXPIRE_IN_S = 3.0


@pytest.fixture(scope="module")
def second_dp(stack: Stack) -> Iterator[DataPlane]:
    """A second data plane process on the shared control plane, for this module only."""
    dp = stack.start_dataplane("identity-dp2")
    yield dp
    dp.child.stop()


def test_rotation_with_grace_keeps_the_name_and_retires_the_old_secret(
    stack: Stack, radmin, tenant: Tenant, secret_registry
) -> None:
    name, old = new_key(radmin, stack, tenant.workspace, secret_registry)
    before = chat_once(stack.dp.url, old)
    assert before.status == 200, before

    rotated = radmin.RotateGatewayKey(
        admin_pb.RotateGatewayKeyRequest(name=name, grace=seconds(GRACE_S))
    )
    new = rotated.key_text
    register_key(secret_registry, name, new)
    key = rotated.gateway_key
    assert key.name == name
    assert new != old and new.rsplit("_", 1)[0] == old.rsplit("_", 1)[0] == key.key_prefix
    assert key.state == key_pb2.GatewayKey.STATE_ACTIVE and key.HasField("rotate_time")
    deadline = key.previous_secret_expire_time.ToNanoseconds() / 1e9
    assert 0 < deadline - time.time() <= GRACE_S + 0.5, deadline - time.time()

    wait_key_accepted(stack.dp.url, new)
    with sdk(stack.dp.url, old) as old_client, sdk(stack.dp.url, new) as new_client:
        during_old, during_new = chat(old_client), chat(new_client)
        asked = time.time()
        assert asked < deadline, "the grace period was over before both keys were tried"
        assert (during_old.status, during_new.status) == (200, 200), (during_old, during_new)

        wait_past(deadline)
        after_old = wait_outcome(
            lambda: chat(old_client), lambda o: o.status == 401, "old secret retired"
        )
        after_new = chat(new_client)
    assert after_old.code == "invalid_api_key", after_old
    assert after_new.status == 200, after_new

    ids = [before, during_old, during_new, after_old, after_new]
    events = wait_for_requests(radmin, tenant.workspace, [o.request_id for o in ids])
    assert {e.key for e in events.values()} == {name}, "usage split across keys"
    assert events[after_old.request_id].error_type == "invalid_api_key"
    by_key = radmin.SummarizeUsage(
        admin_pb.SummarizeUsageRequest(
            filter=admin_pb.UsageFilter(workspace=tenant.workspace, key=name),
            group_by=[usage_pb2.USAGE_GROUP_BY_KEY],
        )
    ).rows
    assert [r.group[0] for r in by_key] == [name]
    assert by_key[0].requests >= len(ids)
    listed = radmin.ListGatewayKeys(admin_pb.ListGatewayKeysRequest(parent=tenant.workspace))
    assert [k.name for k in listed.gateway_keys].count(name) == 1
    got = radmin.GetGatewayKey(admin_pb.GetGatewayKeyRequest(name=name)).gateway_key
    assert got.use_count >= 4, got.use_count  # the successful requests, old and new secret


def test_expired_key_is_refused_after_its_expire_time(
    stack: Stack, radmin, tenant: Tenant, secret_registry
) -> None:
    expire = timestamp_pb2.Timestamp()
    expire.FromNanoseconds(int((time.time() + EXPIRE_IN_S) * 1e9))
    name, text = new_key(radmin, stack, tenant.workspace, secret_registry, expire_time=expire)
    with sdk(stack.dp.url, text) as client:
        before = chat(client)
        assert before.status == 200, before
        wait_past(expire.ToNanoseconds() / 1e9)
        after = wait_outcome(lambda: chat(client), lambda o: o.status == 401, "key expiry")
        with pytest.raises(openai.AuthenticationError) as caught:
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert after.code == "key_expired", after
    assert caught.value.code == "key_expired"
    event = wait_for_requests(radmin, tenant.workspace, [after.request_id])[after.request_id]
    assert (event.key, event.http_status, event.error_type, event.policy_reason) == (
        name,
        401,
        "key_expired",
        "key_expired",
    )


def test_revocation_reaches_two_dataplanes_within_a_second(
    stack: Stack, radmin, tenant: Tenant, secret_registry, second_dp: DataPlane
) -> None:
    name, text = new_key(radmin, stack, tenant.workspace, secret_registry)
    wait_key_accepted(second_dp.url, text)
    served = {dp.node_id: chat_once(dp.url, text) for dp in (stack.dp, second_dp)}
    assert all(o.status == 200 for o in served.values()), served

    headers = {"authorization": f"Bearer {text}"}
    refused_after: dict[str, float] = {}
    last: dict[str, int] = {}
    start = time.monotonic()
    radmin.RevokeGatewayKey(admin_pb.RevokeGatewayKeyRequest(name=name))
    while len(refused_after) < 2 and time.monotonic() - start < 3.0:
        for dp in (stack.dp, second_dp):
            if dp.node_id in refused_after:
                continue
            response = http_request(
                "POST", f"{dp.url}/v1/chat/completions", chat_body("r"), headers=headers
            )
            last[dp.node_id] = response.status
            if response.status == 401:
                assert response.json()["error"]["code"] == "key_revoked"
                refused_after[dp.node_id] = time.monotonic() - start
    assert set(refused_after) == {stack.dp.node_id, second_dp.node_id}, last
    slow = {node: round(t, 3) for node, t in refused_after.items() if t >= 1.0}
    assert not slow, f"revocation took too long on {slow}"

    outcomes: dict[str, Outcome] = {
        dp.node_id: chat_once(dp.url, text) for dp in (stack.dp, second_dp)
    }
    assert all((o.status, o.code) == (401, "key_revoked") for o in outcomes.values()), outcomes
    events = wait_for_requests(
        radmin,
        tenant.workspace,
        [o.request_id for o in (*served.values(), *outcomes.values())],
    )
    for node, outcome in (*served.items(), *outcomes.items()):
        assert events[outcome.request_id].dataplane_id == node
        assert events[outcome.request_id].key == name
    revoked = list_usage(radmin, tenant.workspace, key=name, policy_reason="key_revoked")
    assert {e.dataplane_id for e in revoked} == {stack.dp.node_id, second_dp.node_id}
