"""Policy RPCs: CRUD and masked updates; every write re-validates the whole policy."""

from __future__ import annotations

import re
from collections.abc import Sequence

from controlplane.api import convert
from controlplane.api.repository import Guard, Mutation
from controlplane.api.resources.base import Ctx, ServicerBase
from controlplane.api.resources.child import ChildResource, serves
from controlplane.api.status import grpc_errors
from controlplane.domain import fieldmask, validation
from controlplane.domain.errors import InvalidArgument
from controlplane.store.base import Item
from oggy.contract.names import (
    ChildName,
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
POLICY = ChildResource("Policy", "Policies", Collection.POLICIES, convert.policy_out)


def validate_policy_fields(policy: policy_pb2.Policy, workspace: WorkspaceName) -> None:
    validation.model_globs(policy.allowed_models, "policy.allowed_models")
    validation.model_globs(policy.denied_models, "policy.denied_models")
    validation.cidrs(policy.allowed_cidrs, "policy.allowed_cidrs")
    validation.cidrs(policy.trusted_proxy_cidrs, "policy.trusted_proxy_cidrs")
    validation.non_negative(policy.max_output_tokens, "policy.max_output_tokens")
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


@serves(POLICY, "Get", "List", "Delete")
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
        new = self._new_child(POLICY, request)
        ref_guards = self._validate_policy(request.policy, new.name.parent)
        policy = convert.new_versioned(request.policy, str(new.name), self._clock())
        created = await self._create_child(
            POLICY, new, policy.SerializeToString(), guards=ref_guards
        )
        return POLICY.reply("Create", created.item)

    @grpc_errors
    async def UpdatePolicy(self, request: pb.UpdatePolicyRequest, context: Ctx):
        def mutation(name: ChildName, fields: tuple[str, ...]) -> Mutation:
            def update(item: Item) -> tuple[bytes, Sequence[Guard]]:
                stored = convert.policy(item)
                updated = convert.apply_versioned_update(
                    stored, request.policy, fields, self._clock()
                )
                guards = self._validate_policy(updated, name.parent)
                return updated.SerializeToString(), guards

            return update

        return await self._update_child(POLICY, request, fieldmask.POLICY_UPDATABLE, mutation)
