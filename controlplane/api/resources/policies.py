"""Policy RPCs: CRUD and masked updates; every write re-validates the whole policy."""

from __future__ import annotations

import re
from collections.abc import Sequence

from controlplane.api import convert
from controlplane.api.repository import Guard
from controlplane.api.resources.base import Ctx, ServicerBase, masked_fields
from controlplane.api.status import grpc_errors
from controlplane.domain import fieldmask, validation
from controlplane.domain.errors import InvalidArgument
from controlplane.store.base import Item
from oggy.contract.names import (
    Collection,
    WorkspaceName,
    parse_any_name,
    parse_child_name,
)
from oggy.contract.policy import PolicyError, labels_grant
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import policy_pb2

CLAIM_OVERRIDES = frozenset({"team", "app", "env", "workflow"})
MAX_REDACTION_RULES = 100


def validate_policy_fields(policy: policy_pb2.Policy, workspace: WorkspaceName) -> None:
    validation.model_globs(policy.allowed_models, "policy.allowed_models")
    validation.model_globs(policy.denied_models, "policy.denied_models")
    validation.cidrs(policy.allowed_cidrs, "policy.allowed_cidrs")
    validation.cidrs(policy.trusted_proxy_cidrs, "policy.trusted_proxy_cidrs")
    for field in ("max_output_tokens", "budget_micro_usd", "requests_per_minute"):
        validation.non_negative(getattr(policy, field), f"policy.{field}")
    validation.non_negative(policy.tokens_per_minute, "policy.tokens_per_minute")
    for provider in policy.allowed_providers:
        name = parse_child_name(provider, Collection.PROVIDERS, "policy.allowed_providers")
        if name.parent != workspace:
            raise InvalidArgument(f"policy.allowed_providers must be providers in {workspace}")
    if policy.HasField("prompt_retention") and policy.prompt_retention.ToNanoseconds() < 0:
        raise InvalidArgument("policy.prompt_retention must not be negative")
    unknown = set(policy.actor_claim_overrides) - CLAIM_OVERRIDES
    if unknown:
        raise InvalidArgument(
            f"policy.actor_claim_overrides may only name {sorted(CLAIM_OVERRIDES)}"
        )
    try:
        labels_grant(policy)
    except PolicyError:
        raise InvalidArgument(
            f"policy.record_labels: unknown value {policy.record_labels}"
        ) from None
    if len(policy.redaction_rules) > MAX_REDACTION_RULES:
        raise InvalidArgument(f"policy.redaction_rules has over {MAX_REDACTION_RULES} rules")
    for rule in policy.redaction_rules:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", rule.name):
            raise InvalidArgument("policy.redaction_rules names must be [A-Za-z0-9_-]{1,64}")
        try:
            re.compile(rule.pattern)
        except re.error:
            raise InvalidArgument(f"policy.redaction_rules {rule.name}: invalid pattern") from None
        if not rule.pattern:
            raise InvalidArgument(f"policy.redaction_rules {rule.name}: pattern is required")


class PolicyRpcs(ServicerBase):
    def _validate_policy(self, policy: policy_pb2.Policy, workspace: WorkspaceName) -> list[Guard]:
        """Field checks, and the guard that the target exists (in this workspace)."""
        validate_policy_fields(policy, workspace)
        if not policy.target:
            raise InvalidArgument("policy.target is required")
        target = parse_any_name(policy.target, "policy.target")
        if isinstance(target, WorkspaceName):
            if target != workspace:
                raise InvalidArgument(f"policy.target must be {workspace} or a resource in it")
            return []
        if target.collection not in (Collection.ACTORS, Collection.KEYS):
            raise InvalidArgument("policy.target must be the workspace, an actor or a key")
        return [
            self._same_workspace_ref(policy.target, target.collection, workspace, "policy.target")
        ]

    @grpc_errors
    async def CreatePolicy(self, request: pb.CreatePolicyRequest, context: Ctx):
        name = self._child(request.parent, Collection.POLICIES, request.policy_id, "policy_id")
        rid = validation.request_id(request.request_id)
        ref_guards = self._validate_policy(request.policy, name.parent)
        policy = convert.new_policy(request.policy, str(name), self._clock())
        created = await self._create_child(
            "CreatePolicy",
            name,
            policy.SerializeToString(),
            request_id=rid,
            explicit_id=bool(request.policy_id),
            render=convert.policy_out,
            guards=ref_guards,
        )
        return pb.CreatePolicyResponse(policy=convert.policy_out(created.item))

    @grpc_errors
    async def GetPolicy(self, request: pb.GetPolicyRequest, context: Ctx):
        policy = await self._get_child(request.name, Collection.POLICIES, convert.policy_out)
        return pb.GetPolicyResponse(policy=policy)

    @grpc_errors
    async def ListPolicies(self, request: pb.ListPoliciesRequest, context: Ctx):
        policies, token = await self._list_children(
            request, Collection.POLICIES, convert.policy_out
        )
        return pb.ListPoliciesResponse(policies=policies, next_page_token=token)

    @grpc_errors
    async def DeletePolicy(self, request: pb.DeletePolicyRequest, context: Ctx):
        name = str(parse_child_name(request.name, Collection.POLICIES))
        await self._delete("DeletePolicy", name, request.etag, convert.policy_out)
        return pb.DeletePolicyResponse()

    @grpc_errors
    async def UpdatePolicy(self, request: pb.UpdatePolicyRequest, context: Ctx):
        name = parse_child_name(request.policy.name, Collection.POLICIES, "policy.name")
        fields = masked_fields(request.update_mask, request.policy, fieldmask.POLICY_UPDATABLE)

        def update(item: Item) -> tuple[bytes, Sequence[Guard]]:
            stored = convert.policy(item)
            updated = convert.apply_policy_update(stored, request.policy, fields, self._clock())
            guards = self._validate_policy(updated, name.parent)
            return updated.SerializeToString(), guards

        item = await self._update(
            "UpdatePolicy", str(name), request.policy.etag, update, convert.policy_out
        )
        return pb.UpdatePolicyResponse(policy=convert.policy_out(item))
