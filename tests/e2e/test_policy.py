"""Policies reach a running data plane and are enforced there; a blocked request is still a
usage event carrying the policy reason (DESIGN: request path, invariant 1)."""

from __future__ import annotations

import grpc
import openai
import pytest
from google.protobuf import field_mask_pb2

from oggy.v1 import admin_service_pb2 as admin_pb
from oggy.v1 import policy_pb2
from tests.e2e.conftest import Stack, register_key
from tests.support.oggy_clients import (
    MODEL,
    Tenant,
    chat_body,
    create_key,
    http_request,
    openai_client,
    wait_for_requests,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def chat(stack: Stack, key_text: str, **extra: object):
    return http_request(
        "POST",
        f"{stack.dp.url}/v1/chat/completions",
        chat_body("policy check", **extra),
        headers={"authorization": f"Bearer {key_text}"},
    )


def test_key_policy_blocks_then_update_unblocks(
    stack: Stack, tenant: Tenant, secret_registry: dict[str, str]
) -> None:
    key_name, key_text = create_key(stack.admin, tenant.workspace, stack.dp.url)
    register_key(secret_registry, key_name, key_text)
    policy = stack.admin.CreatePolicy(
        admin_pb.CreatePolicyRequest(
            parent=tenant.workspace,
            policy_id="no-mini",
            policy=policy_pb2.Policy(target=key_name, denied_models=["gpt-4o-mini*"]),
        )
    ).policy

    blocked = wait_until(
        lambda: (r := chat(stack, key_text)).status == 403 and r,
        timeout=5,
        message="policy enforced by the data plane",
    )
    assert blocked.json()["error"]["code"] == "model_not_allowed"
    # The policy targets one key: the workspace's other key is not affected.
    assert chat(stack, tenant.key_text).status == 200
    with (
        openai_client(stack.dp.url, key_text) as client,
        pytest.raises(openai.PermissionDeniedError) as caught,
    ):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "model_not_allowed"

    request_id = blocked.headers.get("x-request-id", "")
    event = wait_for_requests(stack.admin, tenant.workspace, [request_id])[request_id]
    assert (event.http_status, event.error_type) == (403, "model_not_allowed")
    assert event.key == key_name
    assert event.model == MODEL

    stack.admin.UpdatePolicy(
        admin_pb.UpdatePolicyRequest(
            policy=policy_pb2.Policy(name=policy.name, etag=policy.etag, max_output_tokens=10),
            update_mask=field_mask_pb2.FieldMask(paths=["denied_models", "max_output_tokens"]),
        )
    )
    wait_until(
        lambda: chat(stack, key_text).status == 200,
        timeout=5,
        message="updated policy reaches the data plane",
    )
    too_many = chat(stack, key_text, max_tokens=11)
    assert too_many.status == 400, too_many.body
    assert too_many.json()["error"]["code"] == "max_tokens_exceeded"
    assert chat(stack, key_text, max_tokens=10).status == 200


def test_stale_etag_is_aborted(stack: Stack, tenant: Tenant) -> None:
    policy = stack.admin.CreatePolicy(
        admin_pb.CreatePolicyRequest(
            parent=tenant.workspace,
            policy_id="etag-check",
            policy=policy_pb2.Policy(target=tenant.key_name),
        )
    ).policy
    stack.admin.UpdatePolicy(
        admin_pb.UpdatePolicyRequest(
            policy=policy_pb2.Policy(name=policy.name, max_output_tokens=100),
            update_mask=field_mask_pb2.FieldMask(paths=["max_output_tokens"]),
        )
    )
    with pytest.raises(grpc.RpcError) as caught:
        stack.admin.UpdatePolicy(
            admin_pb.UpdatePolicyRequest(
                policy=policy_pb2.Policy(name=policy.name, etag=policy.etag, max_output_tokens=200),
                update_mask=field_mask_pb2.FieldMask(paths=["max_output_tokens"]),
            )
        )
    assert caught.value.code() == grpc.StatusCode.ABORTED
