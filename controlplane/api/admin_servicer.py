"""AdminService: AIP-style CRUD on workspaces, keys, actors, providers and policies.

Validation is pure (controlplane.domain); storage semantics live in
`Repository`; this module only decides, per RPC, what to check and write.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence

import grpc

from controlplane.api import convert
from controlplane.api.repository import Guard, Repository
from controlplane.api.status import grpc_errors
from controlplane.domain import fieldmask, keys, validation
from controlplane.domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    Unavailable,
)
from controlplane.domain.ids import RandomSource, new_id
from controlplane.domain.layout import Layout
from controlplane.domain.names import (
    ChildName,
    Collection,
    WorkspaceName,
    parse_any_name,
    parse_child_name,
    parse_workspace_name,
    validate_id,
)
from controlplane.store.base import Item
from controlplane.store.txn import Absent, Delete, Put, TxnStore
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import admin_service_pb2_grpc, key_pb2, policy_pb2, provider_pb2
from oggy.v1.usage_pb2 import UsageGroupBy

Ctx = grpc.aio.ServicerContext


class Encryptor:
    """What this servicer needs of controlplane.secrets.EnvelopeCipher."""

    def encrypt(self, plaintext: bytes) -> bytes:  # pragma: no cover - protocol
        raise NotImplementedError


class AdminServicer(admin_service_pb2_grpc.AdminServiceServicer):
    def __init__(
        self,
        store: TxnStore,
        cipher: Encryptor,
        *,
        prefix: str = "/oggy/",
        usage_store: object | None = None,
        clock: Callable[[], float] = time.time,
        rng: RandomSource | None = None,
    ) -> None:
        self._repo = Repository(store, Layout(prefix))
        self._layout = self._repo.layout
        self._cipher = cipher
        self._usage = usage_store
        self._clock = clock
        self._rng: RandomSource = rng or secrets.SystemRandom()

    def __repr__(self) -> str:
        return f"AdminServicer(prefix={self._layout.prefix!r})"

    # --- helpers ----------------------------------------------------------------------

    def _resource_id(self, given: str, field: str) -> tuple[str, bool]:
        if given:
            return validate_id(given, field), True
        return new_id(self._rng), False

    def _child(self, parent: str, collection: Collection, given_id: str, field: str) -> ChildName:
        workspace = parse_workspace_name(parent, "parent")
        resource_id, _ = self._resource_id(given_id, field)
        return workspace.child(collection, resource_id)

    def _same_workspace_ref(
        self, ref: str, collection: Collection, workspace: WorkspaceName, field: str
    ) -> Guard:
        name = parse_child_name(ref, collection, field)
        if name.parent != workspace:
            raise InvalidArgument(f"{field} must be in {workspace}")
        return self._repo.reference_exists(ref, field)

    # --- workspaces -------------------------------------------------------------------

    @grpc_errors
    async def CreateWorkspace(self, request: pb.CreateWorkspaceRequest, context: Ctx):
        ws_id, explicit = self._resource_id(request.workspace_id, "workspace_id")
        validation.display_name(request.workspace.display_name)
        rid = validation.request_id(request.request_id)
        name = str(WorkspaceName(ws_id))
        created = await self._repo.create(
            method="CreateWorkspace",
            name=name,
            value=convert.new_workspace(request.workspace, name, self._clock()),
            request_id=rid,
            explicit_id=explicit,
        )
        return pb.CreateWorkspaceResponse(workspace=convert.workspace_out(created.item))

    @grpc_errors
    async def GetWorkspace(self, request: pb.GetWorkspaceRequest, context: Ctx):
        name = str(parse_workspace_name(request.name))
        return pb.GetWorkspaceResponse(workspace=convert.workspace_out(await self._repo.get(name)))

    @grpc_errors
    async def ListWorkspaces(self, request: pb.ListWorkspacesRequest, context: Ctx):
        items, token = await self._repo.list(
            "workspaces/", request.page_size, request.page_token, depth=1
        )
        return pb.ListWorkspacesResponse(
            workspaces=[convert.workspace_out(i) for i in items], next_page_token=token
        )

    @grpc_errors
    async def DeleteWorkspace(self, request: pb.DeleteWorkspaceRequest, context: Ctx):
        workspace = parse_workspace_name(request.name)
        # Deleting children implicitly would revoke keys by accident; make it explicit.
        guard = self._repo.no_children(
            workspace.children_prefix,
            FailedPrecondition(f"{workspace} still has keys, actors, providers or policies"),
        )
        await self._repo.delete(str(workspace), request.etag, guards=[guard])
        return pb.DeleteWorkspaceResponse()

    # --- gateway keys -----------------------------------------------------------------

    @grpc_errors
    async def CreateGatewayKey(self, request: pb.CreateGatewayKeyRequest, context: Ctx):
        workspace = parse_workspace_name(request.parent, "parent")
        given = request.key_id
        key_id = keys.validate_key_id(given) if given else new_id(self._rng)
        name = str(workspace.child(Collection.KEYS, key_id))
        body = request.gateway_key
        environment = keys.validate_environment(body.environment or keys.DEFAULT_ENVIRONMENT)
        validation.display_name(body.display_name)
        rid = validation.request_id(request.request_id)
        now = self._clock()
        if body.HasField("expire_time") and body.expire_time.ToNanoseconds() <= now * 1e9:
            raise InvalidArgument("gateway_key.expire_time must be in the future")
        guards = [self._repo.parent_exists(str(workspace))]
        if body.actor:
            guards.append(
                self._same_workspace_ref(
                    body.actor, Collection.ACTORS, workspace, "gateway_key.actor"
                )
            )
        index_key = self._layout.key_index(key_id)
        guards.append(Guard(Absent(index_key), AlreadyExists(f"key id {key_id} is already in use")))
        secret = keys.new_secret(self._rng)
        value = convert.new_key_material(
            body,
            name=name,
            environment=environment,
            key_prefix=keys.key_prefix(environment, key_id),
            secret_sha256=keys.hash_secret(secret),
            now=now,
        )
        created = await self._repo.create(
            method="CreateGatewayKey",
            name=name,
            value=value,
            request_id=rid,
            explicit_id=bool(given),
            guards=guards,
            extra_ops=[Put(index_key, name.encode())],
        )
        out = convert.gateway_key_out(created.item)
        # A replay cannot show the key text: only its hash was kept.
        text = "" if created.replayed else keys.format_key_text(environment, key_id, secret)
        return pb.CreateGatewayKeyResponse(gateway_key=out, key_text=text)

    @grpc_errors
    async def GetGatewayKey(self, request: pb.GetGatewayKeyRequest, context: Ctx):
        name = str(parse_child_name(request.name, Collection.KEYS))
        return pb.GetGatewayKeyResponse(
            gateway_key=convert.gateway_key_out(await self._repo.get(name))
        )

    @grpc_errors
    async def ListGatewayKeys(self, request: pb.ListGatewayKeysRequest, context: Ctx):
        items, token = await self._list_children(request, Collection.KEYS)
        return pb.ListGatewayKeysResponse(
            gateway_keys=[convert.gateway_key_out(i) for i in items], next_page_token=token
        )

    @grpc_errors
    async def DeleteGatewayKey(self, request: pb.DeleteGatewayKeyRequest, context: Ctx):
        name = parse_child_name(request.name, Collection.KEYS)
        index = self._layout.key_index(name.resource_id)
        await self._repo.delete(str(name), request.etag, extra_ops=[Delete(index)])
        return pb.DeleteGatewayKeyResponse()

    @grpc_errors
    async def RevokeGatewayKey(self, request: pb.RevokeGatewayKeyRequest, context: Ctx):
        name = str(parse_child_name(request.name, Collection.KEYS))

        def revoke(item: Item) -> tuple[bytes, Sequence[Guard]] | None:
            material = convert.key_material(item)
            if material.key.state == key_pb2.GatewayKey.STATE_REVOKED:
                return None  # revoking twice keeps the first revoke_time
            return convert.revoked(material, self._clock()), ()

        item = await self._repo.update(name, "", revoke)
        return pb.RevokeGatewayKeyResponse(gateway_key=convert.gateway_key_out(item))

    # --- actors -----------------------------------------------------------------------

    @grpc_errors
    async def CreateActor(self, request: pb.CreateActorRequest, context: Ctx):
        name = self._child(request.parent, Collection.ACTORS, request.actor_id, "actor_id")
        body = request.actor
        validation.display_name(body.display_name)
        rid = validation.request_id(request.request_id)
        guards = [self._repo.parent_exists(str(name.parent))]
        for team in dict.fromkeys(body.teams):
            guards.append(
                self._same_workspace_ref(team, Collection.ACTORS, name.parent, "actor.teams")
            )
        created = await self._repo.create(
            method="CreateActor",
            name=str(name),
            value=convert.new_actor(body, str(name), self._clock()),
            request_id=rid,
            explicit_id=bool(request.actor_id),
            guards=guards,
        )
        return pb.CreateActorResponse(actor=convert.actor_out(created.item))

    @grpc_errors
    async def GetActor(self, request: pb.GetActorRequest, context: Ctx):
        name = str(parse_child_name(request.name, Collection.ACTORS))
        return pb.GetActorResponse(actor=convert.actor_out(await self._repo.get(name)))

    @grpc_errors
    async def ListActors(self, request: pb.ListActorsRequest, context: Ctx):
        items, token = await self._list_children(request, Collection.ACTORS)
        return pb.ListActorsResponse(
            actors=[convert.actor_out(i) for i in items], next_page_token=token
        )

    @grpc_errors
    async def DeleteActor(self, request: pb.DeleteActorRequest, context: Ctx):
        name = str(parse_child_name(request.name, Collection.ACTORS))
        await self._repo.delete(name, request.etag)
        return pb.DeleteActorResponse()

    # --- provider credentials ---------------------------------------------------------

    @grpc_errors
    async def CreateProviderCredential(
        self, request: pb.CreateProviderCredentialRequest, context: Ctx
    ):
        name = self._child(request.parent, Collection.PROVIDERS, request.provider_id, "provider_id")
        body = request.provider_credential
        if body.kind == provider_pb2.ProviderCredential.KIND_UNSPECIFIED:
            raise InvalidArgument("provider_credential.kind is required")
        validation.display_name(body.display_name)
        validation.base_url(body.base_url)
        validation.model_globs(body.models, "provider_credential.models", required=True)
        api_key = validation.api_key(body.api_key)
        rid = validation.request_id(request.request_id)
        secret_key = self._layout.secret(str(name))
        created = await self._repo.create(
            method="CreateProviderCredential",
            name=str(name),
            value=convert.new_provider(body, str(name), api_key, self._clock()),
            request_id=rid,
            explicit_id=bool(request.provider_id),
            guards=[
                self._repo.parent_exists(str(name.parent)),
                Guard(Absent(secret_key), AlreadyExists(f"{name} already exists")),
            ],
            extra_ops=[Put(secret_key, self._cipher.encrypt(api_key.encode("utf-8")))],
        )
        return pb.CreateProviderCredentialResponse(
            provider_credential=convert.provider_out(created.item)
        )

    @grpc_errors
    async def GetProviderCredential(self, request: pb.GetProviderCredentialRequest, context: Ctx):
        name = str(parse_child_name(request.name, Collection.PROVIDERS))
        item = await self._repo.get(name)
        return pb.GetProviderCredentialResponse(provider_credential=convert.provider_out(item))

    @grpc_errors
    async def ListProviderCredentials(
        self, request: pb.ListProviderCredentialsRequest, context: Ctx
    ):
        items, token = await self._list_children(request, Collection.PROVIDERS)
        return pb.ListProviderCredentialsResponse(
            provider_credentials=[convert.provider_out(i) for i in items], next_page_token=token
        )

    @grpc_errors
    async def DeleteProviderCredential(
        self, request: pb.DeleteProviderCredentialRequest, context: Ctx
    ):
        name = str(parse_child_name(request.name, Collection.PROVIDERS))
        await self._repo.delete(name, request.etag, extra_ops=[Delete(self._layout.secret(name))])
        return pb.DeleteProviderCredentialResponse()

    # --- policies ---------------------------------------------------------------------

    def _validate_policy(self, policy: policy_pb2.Policy, workspace: WorkspaceName) -> list[Guard]:
        """Field checks, and the guard that the target exists (in this workspace)."""
        validation.model_globs(policy.allowed_models, "policy.allowed_models")
        validation.model_globs(policy.denied_models, "policy.denied_models")
        validation.cidrs(policy.allowed_cidrs, "policy.allowed_cidrs")
        validation.cidrs(policy.trusted_proxy_cidrs, "policy.trusted_proxy_cidrs")
        validation.non_negative(policy.max_output_tokens, "policy.max_output_tokens")
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
        created = await self._repo.create(
            method="CreatePolicy",
            name=str(name),
            value=policy.SerializeToString(),
            request_id=rid,
            explicit_id=bool(request.policy_id),
            guards=[self._repo.parent_exists(str(name.parent)), *ref_guards],
        )
        return pb.CreatePolicyResponse(policy=convert.policy_out(created.item))

    @grpc_errors
    async def GetPolicy(self, request: pb.GetPolicyRequest, context: Ctx):
        name = str(parse_child_name(request.name, Collection.POLICIES))
        return pb.GetPolicyResponse(policy=convert.policy_out(await self._repo.get(name)))

    @grpc_errors
    async def ListPolicies(self, request: pb.ListPoliciesRequest, context: Ctx):
        items, token = await self._list_children(request, Collection.POLICIES)
        return pb.ListPoliciesResponse(
            policies=[convert.policy_out(i) for i in items], next_page_token=token
        )

    @grpc_errors
    async def DeletePolicy(self, request: pb.DeletePolicyRequest, context: Ctx):
        name = str(parse_child_name(request.name, Collection.POLICIES))
        await self._repo.delete(name, request.etag)
        return pb.DeletePolicyResponse()

    @grpc_errors
    async def UpdatePolicy(self, request: pb.UpdatePolicyRequest, context: Ctx):
        name = parse_child_name(request.policy.name, Collection.POLICIES, "policy.name")
        fields = fieldmask.resolve_mask(
            list(request.update_mask.paths),
            fieldmask.POLICY_UPDATABLE,
            convert.populated_fields(request.policy),
        )

        def update(item: Item) -> tuple[bytes, Sequence[Guard]]:
            stored = convert.policy(item)
            updated = convert.apply_policy_update(stored, request.policy, fields, self._clock())
            guards = self._validate_policy(updated, name.parent)
            return updated.SerializeToString(), guards

        item = await self._repo.update(str(name), request.policy.etag, update)
        return pb.UpdatePolicyResponse(policy=convert.policy_out(item))

    # --- usage ------------------------------------------------------------------------

    def _usage_store(self):
        if self._usage is None:
            raise Unavailable("no usage store is configured")
        return self._usage

    @grpc_errors
    async def ListUsageEvents(self, request: pb.ListUsageEventsRequest, context: Ctx):
        parse_workspace_name(request.filter.workspace, "filter.workspace")
        events, token = await self._usage_store().list_events(
            request.filter, request.page_size, request.page_token
        )
        return pb.ListUsageEventsResponse(usage_events=events, next_page_token=token)

    @grpc_errors
    async def SummarizeUsage(self, request: pb.SummarizeUsageRequest, context: Ctx):
        parse_workspace_name(request.filter.workspace, "filter.workspace")
        group_by = list(request.group_by)
        if UsageGroupBy.USAGE_GROUP_BY_UNSPECIFIED in group_by:
            raise InvalidArgument("group_by must not contain USAGE_GROUP_BY_UNSPECIFIED")
        rows = await self._usage_store().summarize(request.filter, group_by)
        return pb.SummarizeUsageResponse(rows=rows)

    # --- shared -----------------------------------------------------------------------

    async def _list_children(self, request, collection: Collection) -> tuple[list[Item], str]:
        workspace = parse_workspace_name(request.parent, "parent")
        return await self._repo.list(
            workspace.collection_prefix(collection), request.page_size, request.page_token, depth=3
        )
