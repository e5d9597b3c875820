"""GetEffectivePolicy: the policies that apply to a workspace, actor or key, merged."""

from __future__ import annotations

from controlplane.api import convert
from controlplane.api.resources.base import Ctx, ServicerBase
from controlplane.api.status import grpc_errors
from controlplane.domain import effective_policy
from controlplane.domain.errors import InvalidArgument, NotFound
from oggy.contract.names import Collection, WorkspaceName, parse_any_name
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import policy_pb2


class EffectivePolicyRpcs(ServicerBase):
    async def _teams(self, actor: str) -> list[str]:
        try:
            return list(convert.actor(await self._repo.get(actor)).teams)
        except NotFound:
            return []  # a key bound to a since-deleted actor: its teams no longer apply

    @grpc_errors
    async def GetEffectivePolicy(self, request: pb.GetEffectivePolicyRequest, context: Ctx):
        if not request.target:
            raise InvalidArgument("target is required")
        target = parse_any_name(request.target, "target")
        if isinstance(target, WorkspaceName):
            workspace = target
            await self._repo.get(str(workspace))
            targets = effective_policy.targets_for(str(workspace))
        elif target.collection is Collection.ACTORS:
            workspace = target.parent
            actor = convert.actor(await self._repo.get(str(target)))
            targets = effective_policy.targets_for(str(workspace), actor.teams, str(target))
        elif target.collection is Collection.KEYS:
            workspace = target.parent
            key = convert.key_material(await self._repo.get(str(target))).key
            teams = await self._teams(key.actor) if key.actor else []
            targets = effective_policy.targets_for(str(workspace), teams, key.actor, str(target))
        else:
            raise InvalidArgument("target must be a workspace, an actor or a key")
        items, _ = await self._store.list_prefix(
            self._layout.resource(workspace.collection_prefix(Collection.POLICIES))
        )
        by_target: dict[str, list[policy_pb2.Policy]] = {}
        for item in items:
            policy = convert.policy(item)
            by_target.setdefault(policy.target or str(workspace), []).append(policy)
        layers = [effective_policy.Layer(t, tuple(by_target.get(t, ()))) for t in targets]
        merged = effective_policy.merge(request.target, request.target, layers)
        response = pb.GetEffectivePolicyResponse(policy=merged.policy, sources=merged.sources)
        if merged.shadow_policy is not None:
            response.shadow_policy.CopyFrom(merged.shadow_policy)
        return response
