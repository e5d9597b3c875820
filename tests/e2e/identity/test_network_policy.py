"""Client address and model policy at the data plane, end to end: X-Forwarded-For is
believed only from a trusted proxy (right-most untrusted hop), a CIDR-restricted key is
refused from another source address, a model outside the allowlist is refused, a shadow
policy records what it would block without blocking, and every block is a usage event
with its policy reason (queried with blocked_only and summarized by POLICY_REASON)."""

from __future__ import annotations

import functools
import json
from collections import Counter
from typing import Any

import pytest

from oggy.v1 import actor_pb2, usage_pb2
from oggy.v1 import admin_service_pb2 as admin_pb
from tests.e2e.conftest import Stack
from tests.e2e.identity.conftest import (
    Outcome,
    RecordingAdmin,
    chat_once,
    create_actor,
    create_policy,
    mint,
    new_key,
    oggy_cli,
    register_signing_keys,
    wait_outcome,
)
from tests.support.oggy_clients import CHAT_ENDPOINT, Tenant, list_usage, wait_for_requests

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

BLOCKING_CODES = {"ip_not_allowed", "model_not_allowed", "max_tokens_exceeded"}


class Calls:
    """Every chat request this module makes (polls included), for the usage totals."""

    def __init__(self, dataplane_url: str) -> None:
        self.url = dataplane_url
        self.outcomes: list[Outcome] = []

    def __call__(self, key_text: str, **kwargs: Any) -> Outcome:
        outcome = chat_once(self.url, key_text, **kwargs)
        self.outcomes.append(outcome)
        return outcome


@pytest.fixture(scope="module")
def calls(stack: Stack) -> Calls:
    return Calls(stack.dp.url)


def restricted_key(
    stack: Stack, radmin: RecordingAdmin, tenant: Tenant, secrets: dict[str, str], **policy: Any
) -> tuple[str, str]:
    """A new key with its own policy (so other keys of the workspace are unaffected)."""
    name, text = new_key(radmin, stack, tenant.workspace, secrets)
    create_policy(radmin, tenant.workspace, target=name, **policy)
    return name, text


def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    stack: Stack, radmin, tenant: Tenant, secret_registry, calls: Calls
) -> None:
    _, key = restricted_key(stack, radmin, tenant, secret_registry, allowed_cidrs=["10.0.0.0/8"])
    wait_outcome(lambda: calls(key), lambda o: o.status == 403, "CIDR policy on the data plane")
    spoofed = calls(key, headers={"X-Forwarded-For": "10.1.2.3"})
    assert (spoofed.status, spoofed.code) == (403, "ip_not_allowed"), spoofed
    also = calls(key, headers={"X-Forwarded-For": "10.1.2.3", "X-Real-IP": "10.1.2.3"})
    assert (also.status, also.code) == (403, "ip_not_allowed"), also
    event = wait_for_requests(radmin, tenant.workspace, [spoofed.request_id])[spoofed.request_id]
    assert event.client_ip == "127.0.0.1"
    assert (event.http_status, event.policy_reason) == (403, "ip_not_allowed")


def test_forwarded_for_from_a_trusted_proxy_uses_the_right_most_untrusted_hop(
    stack: Stack, radmin, tenant: Tenant, secret_registry, calls: Calls
) -> None:
    _, key = restricted_key(
        stack,
        radmin,
        tenant,
        secret_registry,
        allowed_cidrs=["10.0.0.0/8"],
        trusted_proxy_cidrs=["127.0.0.1/32", "192.168.0.0/16"],
    )
    wait_outcome(lambda: calls(key), lambda o: o.status == 403, "CIDR policy on the data plane")
    # The client is the right-most hop that is not a trusted proxy; anything left of it
    # was written by the client and proves nothing.
    allowed = calls(key, headers={"X-Forwarded-For": "203.0.113.7, 10.1.2.3"})
    through_two = calls(key, headers={"X-Forwarded-For": "203.0.113.7, 10.1.2.3, 192.168.4.4"})
    spoofed = calls(key, headers={"X-Forwarded-For": "10.1.2.3, 203.0.113.7"})
    assert allowed.status == 200, allowed
    assert through_two.status == 200, through_two
    assert (spoofed.status, spoofed.code) == (403, "ip_not_allowed"), spoofed
    events = wait_for_requests(
        radmin,
        tenant.workspace,
        [allowed.request_id, through_two.request_id, spoofed.request_id],
    )
    assert events[allowed.request_id].client_ip == "10.1.2.3"
    assert events[through_two.request_id].client_ip == "10.1.2.3"
    assert events[spoofed.request_id].client_ip == "203.0.113.7"
    assert events[spoofed.request_id].policy_reason == "ip_not_allowed"


def test_actor_policy_trusted_proxy_is_believed_with_a_workspace_key(
    stack: Stack, radmin, tenant: Tenant, secret_registry, calls: Calls, capsys
) -> None:
    # The policy is set with the CLI, as an operator would: alice calls from 10/8 only,
    # through a proxy on loopback (the test's own address) that her policy trusts.
    signing = register_signing_keys(radmin, tenant.workspace, secret_registry)
    create_actor(radmin, tenant.workspace, "alice", kind=actor_pb2.Actor.KIND_USER)
    cli = functools.partial(oggy_cli, stack, radmin, tenant.workspace, capsys)
    cli("policy", "set", "--actor", "alice", "--allow-cidrs", "10.0.0.0/8",
        "--trusted-proxies", "127.0.0.0/8")  # fmt: skip
    shown = json.loads(cli("policy", "show", "--actor", "alice", "--format", "json"))
    assert shown["effective"]["policy"]["trusted_proxy_cidrs"] == ["127.0.0.0/8"]
    assert shown["effective"]["policy"]["allowed_cidrs"] == ["10.0.0.0/8"]

    token = mint(signing.ed, signing.ed_kid, tenant.workspace, "alice")
    direct = wait_outcome(
        lambda: calls(tenant.key_text, actor=token),
        lambda o: o.code == "ip_not_allowed",
        "alice's policy and signing keys on the data plane",
    )
    proxied = calls(tenant.key_text, actor=token, headers={"X-Forwarded-For": "10.1.2.3"})
    assert proxied.status == 200, proxied
    # Only alice's requests believe her proxy: the key itself trusts none.
    spoofed = calls(tenant.key_text, headers={"X-Forwarded-For": "10.1.2.3"})
    assert spoofed.status == 200, spoofed
    ids = [direct.request_id, proxied.request_id, spoofed.request_id]
    events = wait_for_requests(radmin, tenant.workspace, ids)
    alice = f"{tenant.workspace}/actors/alice"
    assert [(events[i].actor, events[i].client_ip, events[i].policy_reason) for i in ids] == [
        (alice, "127.0.0.1", "ip_not_allowed"),
        (alice, "10.1.2.3", ""),
        ("", "127.0.0.1", ""),
    ]


def test_cidr_restricted_key_is_refused_from_another_address(
    stack: Stack, radmin, tenant: Tenant, secret_registry, calls: Calls
) -> None:
    _, key = restricted_key(stack, radmin, tenant, secret_registry, allowed_cidrs=["127.0.0.1/32"])
    # Loopback is 127/8: the same machine can call from 127.0.0.2, another address.
    wait_outcome(
        lambda: calls(key, local_address="127.0.0.2"),
        lambda o: o.status == 403,
        "CIDR policy on the data plane",
    )
    inside = calls(key, local_address="127.0.0.1")
    outside = calls(key, local_address="127.0.0.2", headers={"X-Forwarded-For": "127.0.0.1"})
    assert inside.status == 200, inside
    assert (outside.status, outside.code) == (403, "ip_not_allowed"), outside
    events = wait_for_requests(radmin, tenant.workspace, [inside.request_id, outside.request_id])
    assert events[inside.request_id].client_ip == "127.0.0.1"
    assert events[outside.request_id].client_ip == "127.0.0.2"
    assert events[outside.request_id].policy_reason == "ip_not_allowed"


def test_model_outside_the_allowlist_is_refused(
    stack: Stack, radmin, tenant: Tenant, secret_registry, calls: Calls
) -> None:
    _, key = restricted_key(stack, radmin, tenant, secret_registry, allowed_models=["gpt-4o-mini"])
    blocked = wait_outcome(
        lambda: calls(key, model="gpt-4o"), lambda o: o.status == 403, "model allowlist"
    )
    assert blocked.code == "model_not_allowed"
    assert "gpt-4o" in blocked.message
    allowed = calls(key, model="gpt-4o-mini")
    assert allowed.status == 200, allowed
    event = wait_for_requests(radmin, tenant.workspace, [blocked.request_id])[blocked.request_id]
    assert (event.http_status, event.error_type, event.policy_reason) == (
        403,
        "model_not_allowed",
        "model_not_allowed",
    )
    assert event.model == "gpt-4o" and event.provider == "" and event.total_tokens == 0


def test_shadow_model_deny_records_but_does_not_block(
    stack: Stack, radmin, tenant: Tenant, secret_registry, calls: Calls
) -> None:
    name, key = new_key(radmin, stack, tenant.workspace, secret_registry)
    create_policy(radmin, tenant.workspace, target=name, shadow=True, denied_models=["gpt-4o"])
    # Config arrives in revision order: once this later policy is enforced, the shadow
    # policy created before it is on the data plane too.
    create_policy(radmin, tenant.workspace, target=name, max_output_tokens=1000)
    wait_outcome(
        lambda: calls(key, max_tokens=1001),
        lambda o: o.code == "max_tokens_exceeded",
        "policies on the data plane",
    )
    shadowed = calls(key, model="gpt-4o")
    clean = calls(key, model="gpt-4o-mini")
    assert shadowed.status == 200, shadowed
    assert clean.status == 200, clean
    events = wait_for_requests(radmin, tenant.workspace, [shadowed.request_id, clean.request_id])
    assert events[shadowed.request_id].shadow_reason == "model_not_allowed"
    assert events[shadowed.request_id].policy_reason == ""
    assert events[shadowed.request_id].total_tokens > 0
    assert events[clean.request_id].shadow_reason == ""
    effective = radmin.GetEffectivePolicy(admin_pb.GetEffectivePolicyRequest(target=name))
    assert list(effective.shadow_policy.denied_models) == ["gpt-4o"]
    assert "gpt-4o" not in effective.policy.denied_models


def test_every_block_is_a_usage_event_with_its_policy_reason(
    stack: Stack, radmin, tenant: Tenant, secret_registry, calls: Calls
) -> None:
    # Standalone too: one block of each kind of this module's own.
    _, ip_key = restricted_key(stack, radmin, tenant, secret_registry, allowed_cidrs=["10.0.0.0/8"])
    _, model_key = restricted_key(
        stack, radmin, tenant, secret_registry, denied_models=["gpt-4o-mini"]
    )
    wait_outcome(lambda: calls(ip_key), lambda o: o.status == 403, "CIDR policy")
    wait_outcome(lambda: calls(model_key), lambda o: o.status == 403, "model policy")

    made = calls.outcomes
    wait_for_requests(radmin, tenant.workspace, [o.request_id for o in made])
    blocked_ids = {o.request_id for o in made if o.code in BLOCKING_CODES}
    expected = Counter(o.code for o in made if o.code in BLOCKING_CODES)
    assert expected["ip_not_allowed"] and expected["model_not_allowed"], expected

    listed = list_usage(radmin, tenant.workspace, blocked_only=True)
    assert {e.request_id for e in listed} == blocked_ids
    assert all(e.policy_reason in BLOCKING_CODES for e in listed)
    only_ip = list_usage(radmin, tenant.workspace, policy_reason="ip_not_allowed")
    assert len(only_ip) == expected["ip_not_allowed"]

    rows = radmin.SummarizeUsage(
        admin_pb.SummarizeUsageRequest(
            filter=admin_pb.UsageFilter(workspace=tenant.workspace),
            group_by=[
                usage_pb2.USAGE_GROUP_BY_POLICY_REASON,
                usage_pb2.USAGE_GROUP_BY_ENDPOINT,
            ],
        )
    ).rows
    summary = {
        row.group[0]: row.requests for row in rows if row.group[1] == CHAT_ENDPOINT and row.group[0]
    }
    assert summary == dict(expected), f"summary {summary} != made {dict(expected)}"
    blocked_rows = radmin.SummarizeUsage(
        admin_pb.SummarizeUsageRequest(
            filter=admin_pb.UsageFilter(workspace=tenant.workspace, blocked_only=True),
            group_by=[usage_pb2.USAGE_GROUP_BY_POLICY_REASON],
        )
    ).rows
    assert {r.group[0]: r.requests for r in blocked_rows} == dict(expected)
