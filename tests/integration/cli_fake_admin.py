"""An in-memory AdminService for CLI tests: enough behaviour to check what the CLI sends.

It checks the bearer token like the real one (UNAUTHENTICATED otherwise) and records
every request, so tests see names, filters and pages exactly as the CLI built them.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Sequence
from concurrent import futures
from contextlib import contextmanager
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.cli import main
from controlplane.domain import errors as domain_errors
from controlplane.domain import prices as domain_prices
from controlplane.domain.fieldmask import ACTOR_UPDATABLE, POLICY_UPDATABLE
from oggy.v1 import (
    actor_pb2,
    admin_service_pb2_grpc,
    audit_pb2,
    key_pb2,
    policy_pb2,
    price_pb2,
    route_pb2,
    signing_key_pb2,
    usage_pb2,
)
from oggy.v1 import admin_service_pb2 as pb

TOKEN = "test-admin-token"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

# The fake honours exactly the fields the real control plane lets a client change.
_ACTOR_UPDATABLE = ACTOR_UPDATABLE
_POLICY_UPDATABLE = POLICY_UPDATABLE


def _ts(moment: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts


def _copy(message: Message) -> Message:
    out = type(message)()
    out.CopyFrom(message)
    return out


def _apply_mask(
    stored: Message,
    patch: Message,
    paths: Sequence[str],
    updatable: Sequence[str],
    context: grpc.ServicerContext,
) -> None:
    """AIP-134: empty mask = populated fields; unknown paths are INVALID_ARGUMENT."""
    if not paths:
        paths = [f.name for f, _ in patch.ListFields() if f.name in updatable]
    unknown = sorted(set(paths) - set(updatable))
    if unknown:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cannot update {unknown}")
    for path in paths:
        stored.ClearField(path)
        _copy_field(
            stored,
            path,
            getattr(patch, path),
            patch.HasField if _singular_message(patch, path) else None,
        )


def _singular_message(message: Message, name: str) -> bool:
    field = message.DESCRIPTOR.fields_by_name[name]
    return field.message_type is not None and not _repeated(message, name)


def _repeated(message: Message, name: str) -> bool:
    return hasattr(getattr(message, name), "extend")


def _copy_field(target: Message, name: str, value: object, has=None) -> None:
    """Set one field of `target` from `value` (repeated, message or scalar)."""
    if _repeated(target, name):
        getattr(target, name).extend(value)
    elif _singular_message(target, name):
        if has is None or has(name):
            getattr(target, name).CopyFrom(value)
    else:
        setattr(target, name, value)


class FakeAdmin(admin_service_pb2_grpc.AdminServiceServicer):
    def __init__(self) -> None:
        self.workspaces: dict[str, object] = {}
        self.keys: dict[str, key_pb2.GatewayKey] = {}
        self.providers: dict[str, object] = {}
        self.events: list[usage_pb2.UsageEvent] = []
        self.rows: list[usage_pb2.UsageSummaryRow] = []
        self.requests: list[tuple[str, object]] = []
        self._ids = itertools.count(1)
        self.now = NOW
        self.actors: dict[str, actor_pb2.Actor] = {}
        self.signing_keys: dict[str, signing_key_pb2.SigningKey] = {}
        # Kept apart from the resources, as the real server keeps them encrypted.
        self.hmac_secrets: dict[str, str] = {}
        self.policies: dict[str, policy_pb2.Policy] = {}
        self.routes: dict[str, route_pb2.Route] = {}
        self.prices: dict[str, price_pb2.ModelPrice] = {}
        self.catalog_revision = 0
        self.unpriced: list[pb.UnpricedModel] = []
        self.audit_events: list[audit_pb2.AuditEvent] = []
        self.prompt_logs: list[pb.PromptLog] = []
        self.purged = 0

    def _auth(self, method: str, request: object, context: grpc.ServicerContext) -> None:
        metadata = dict(context.invocation_metadata())
        if metadata.get("authorization") != f"Bearer {TOKEN}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid admin token")
        self.requests.append((method, request))

    def CreateWorkspace(self, request, context):
        self._auth("CreateWorkspace", request, context)
        name = f"workspaces/{request.workspace_id}"
        if name in self.workspaces:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, f"{name} already exists")
        ws = type(request.workspace)()
        ws.CopyFrom(request.workspace)
        ws.name = name
        self.workspaces[name] = ws
        return pb.CreateWorkspaceResponse(workspace=ws)

    def GetWorkspace(self, request, context):
        self._auth("GetWorkspace", request, context)
        if request.name not in self.workspaces:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        return pb.GetWorkspaceResponse(workspace=self.workspaces[request.name])

    def ListWorkspaces(self, request, context):
        self._auth("ListWorkspaces", request, context)
        # Two pages, to exercise the CLI's paging.
        items = sorted(self.workspaces.values(), key=lambda w: w.name)
        start = int(request.page_token or 0)
        page = items[start : start + 1]
        more = start + 1 < len(items)
        return pb.ListWorkspacesResponse(
            workspaces=page, next_page_token=str(start + 1) if more else ""
        )

    def CreateGatewayKey(self, request, context):
        self._auth("CreateGatewayKey", request, context)
        if request.parent not in self.workspaces:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.parent} not found")
        key_id = request.key_id or f"k{next(self._ids):015d}"
        key = key_pb2.GatewayKey()
        key.CopyFrom(request.gateway_key)
        key.name = f"{request.parent}/keys/{key_id}"
        key.state = key_pb2.GatewayKey.State.STATE_ACTIVE
        key.key_prefix = f"oggy_live_{key_id}"
        self.keys[key.name] = key
        return pb.CreateGatewayKeyResponse(
            gateway_key=key, key_text=f"oggy_live_{key_id}_{'S' * 43}"
        )

    def GetGatewayKey(self, request, context):
        self._auth("GetGatewayKey", request, context)
        if request.name not in self.keys:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        return pb.GetGatewayKeyResponse(gateway_key=self.keys[request.name])

    def ListGatewayKeys(self, request, context):
        self._auth("ListGatewayKeys", request, context)
        keys = [k for n, k in sorted(self.keys.items()) if n.startswith(request.parent + "/")]
        return pb.ListGatewayKeysResponse(gateway_keys=keys)

    def RevokeGatewayKey(self, request, context):
        self._auth("RevokeGatewayKey", request, context)
        if request.name not in self.keys:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        self.keys[request.name].state = key_pb2.GatewayKey.State.STATE_REVOKED
        return pb.RevokeGatewayKeyResponse(gateway_key=self.keys[request.name])

    def CreateProviderCredential(self, request, context):
        self._auth("CreateProviderCredential", request, context)
        name = f"{request.parent}/providers/{request.provider_id}"
        if name in self.providers:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, f"{name} already exists")
        cred = type(request.provider_credential)()
        cred.CopyFrom(request.provider_credential)
        cred.name = name
        cred.api_key_hint = cred.api_key[-4:]
        cred.api_key = ""
        self.providers[name] = cred
        return pb.CreateProviderCredentialResponse(provider_credential=cred)

    def GetProviderCredential(self, request, context):
        self._auth("GetProviderCredential", request, context)
        if request.name not in self.providers:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        return pb.GetProviderCredentialResponse(provider_credential=self.providers[request.name])

    def ListProviderCredentials(self, request, context):
        self._auth("ListProviderCredentials", request, context)
        return pb.ListProviderCredentialsResponse(
            provider_credentials=list(self.providers.values())
        )

    def DeleteProviderCredential(self, request, context):
        self._auth("DeleteProviderCredential", request, context)
        if self.providers.pop(request.name, None) is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        return pb.DeleteProviderCredentialResponse()

    def ListUsageEvents(self, request, context):
        self._auth("ListUsageEvents", request, context)
        start = int(request.page_token or 0)
        end = start + (request.page_size or 50)
        more = end < len(self.events)
        return pb.ListUsageEventsResponse(
            usage_events=self.events[start:end], next_page_token=str(end) if more else ""
        )

    def SummarizeUsage(self, request, context):
        self._auth("SummarizeUsage", request, context)
        return pb.SummarizeUsageResponse(rows=self.rows)

    # --- wave 2: actors, signing keys, policies, routes, prices, audit, prompt logs ----

    def _create(self, store, method, request, context, collection, resource_id, resource):
        """Shared Create: NOT_FOUND parent, ALREADY_EXISTS, create_time set."""
        self._auth(method, request, context)
        if request.parent not in self.workspaces:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.parent} not found")
        resource_id = resource_id or f"g{next(self._ids):06d}"
        name = f"{request.parent}/{collection}/{resource_id}"
        if name in store:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, f"{name} already exists")
        item = _copy(resource)
        item.name = name
        item.create_time.CopyFrom(_ts(self.now))
        item.etag = "1"
        store[name] = item
        return item

    def _get(self, store, method, request, context):
        self._auth(method, request, context)
        if request.name not in store:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        return store[request.name]

    def _list(self, store, method, request, context):
        self._auth(method, request, context)
        return [v for n, v in sorted(store.items()) if n.startswith(request.parent + "/")]

    def _delete(self, store, method, request, context):
        self._auth(method, request, context)
        if store.pop(request.name, None) is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")

    def CreateActor(self, request, context):
        actor = self._create(
            self.actors, "CreateActor", request, context, "actors", request.actor_id, request.actor
        )
        return pb.CreateActorResponse(actor=actor)

    def GetActor(self, request, context):
        return pb.GetActorResponse(actor=self._get(self.actors, "GetActor", request, context))

    def ListActors(self, request, context):
        return pb.ListActorsResponse(actors=self._list(self.actors, "ListActors", request, context))

    def DeleteActor(self, request, context):
        self._delete(self.actors, "DeleteActor", request, context)
        return pb.DeleteActorResponse()

    def UpdateActor(self, request, context):
        self._auth("UpdateActor", request, context)
        stored = self.actors.get(request.actor.name)
        if stored is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.actor.name} not found")
        paths = list(request.update_mask.paths)
        _apply_mask(stored, request.actor, paths, _ACTOR_UPDATABLE, context)
        return pb.UpdateActorResponse(actor=stored)

    def RotateGatewayKey(self, request, context):
        self._auth("RotateGatewayKey", request, context)
        key = self.keys.get(request.name)
        if key is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        if key.state == key_pb2.GatewayKey.State.STATE_REVOKED:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"{request.name} is revoked")
        key.rotate_time.CopyFrom(_ts(self.now))
        grace = request.grace.ToTimedelta()
        key.previous_secret_expire_time.CopyFrom(_ts(self.now + grace))
        key_id = request.name.rsplit("/", 1)[1]
        return pb.RotateGatewayKeyResponse(
            gateway_key=key, key_text=f"oggy_live_{key_id}_{'R' * 43}"
        )

    def CreateSigningKey(self, request, context):
        material = request.signing_key
        if material.algorithm == signing_key_pb2.SigningKey.Algorithm.ALGORITHM_HS256:
            if len(material.hmac_secret.encode()) < 32:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "hmac_secret: at least 32 bytes")
            secret = material.hmac_secret
        elif "BEGIN PUBLIC KEY" not in material.public_key_pem:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "public_key_pem is not a PEM key")
        key = self._create(
            self.signing_keys, "CreateSigningKey", request, context,
            "signingKeys", request.signing_key_id, material,
        )  # fmt: skip
        digest_input = material.hmac_secret or material.public_key_pem
        key.fingerprint = hashlib.sha256(digest_input.encode()).hexdigest()[:16]
        if key.hmac_secret:
            self.hmac_secrets[key.name] = secret
            key.ClearField("hmac_secret")  # input only: never stored in the resource
        return pb.CreateSigningKeyResponse(signing_key=key)

    def GetSigningKey(self, request, context):
        key = self._get(self.signing_keys, "GetSigningKey", request, context)
        return pb.GetSigningKeyResponse(signing_key=key)

    def ListSigningKeys(self, request, context):
        keys = self._list(self.signing_keys, "ListSigningKeys", request, context)
        return pb.ListSigningKeysResponse(signing_keys=keys)

    def DeleteSigningKey(self, request, context):
        self._delete(self.signing_keys, "DeleteSigningKey", request, context)
        self.hmac_secrets.pop(request.name, None)
        return pb.DeleteSigningKeyResponse()

    def CreatePolicy(self, request, context):
        policy = self._create(
            self.policies, "CreatePolicy", request, context,
            "policies", request.policy_id, request.policy,
        )  # fmt: skip
        policy.update_time.CopyFrom(policy.create_time)
        return pb.CreatePolicyResponse(policy=policy)

    def GetPolicy(self, request, context):
        return pb.GetPolicyResponse(policy=self._get(self.policies, "GetPolicy", request, context))

    def ListPolicies(self, request, context):
        items = self._list(self.policies, "ListPolicies", request, context)
        return pb.ListPoliciesResponse(policies=items)

    def DeletePolicy(self, request, context):
        self._delete(self.policies, "DeletePolicy", request, context)
        return pb.DeletePolicyResponse()

    def UpdatePolicy(self, request, context):
        self._auth("UpdatePolicy", request, context)
        stored = self.policies.get(request.policy.name)
        if stored is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.policy.name} not found")
        if request.policy.etag and request.policy.etag != stored.etag:
            context.abort(grpc.StatusCode.ABORTED, "stale etag")
        paths = list(request.update_mask.paths)
        _apply_mask(stored, request.policy, paths, _POLICY_UPDATABLE, context)
        stored.etag = str(int(stored.etag) + 1)
        stored.update_time.CopyFrom(_ts(self.now))
        return pb.UpdatePolicyResponse(policy=stored)

    def GetEffectivePolicy(self, request, context):
        """Simplified merge (later, more specific sources override set fields); the CLI
        only displays what it gets."""
        self._auth("GetEffectivePolicy", request, context)
        target = request.target
        workspace = "/".join(target.split("/")[:2])
        if workspace not in self.workspaces:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{workspace} not found")
        chain = [workspace]
        key = self.keys.get(target)
        actor_name = key.actor if key is not None else target
        actor = self.actors.get(actor_name)
        if actor is not None:
            chain += [*actor.teams, actor.name]
        if key is not None:
            chain.append(key.name)
        response = pb.GetEffectivePolicyResponse()
        response.policy.target = target
        for level in chain:
            for name, policy in sorted(self.policies.items()):
                if policy.target != level:
                    continue
                merged = response.shadow_policy if policy.shadow else response.policy
                for field, value in policy.ListFields():
                    if field.name in _POLICY_UPDATABLE and field.name not in ("target", "shadow"):
                        merged.ClearField(field.name)
                        _copy_field(merged, field.name, value)
                if policy.shadow:
                    merged.shadow = True
                response.sources.append(name)
        return response

    def CreateRoute(self, request, context):
        if not request.route.targets:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "route.targets: at least one")
        for target in request.route.targets:
            if target.provider not in self.providers:
                context.abort(grpc.StatusCode.NOT_FOUND, f"{target.provider} not found")
        route = self._create(
            self.routes, "CreateRoute", request, context, "routes", request.route_id, request.route
        )
        return pb.CreateRouteResponse(route=route)

    def GetRoute(self, request, context):
        return pb.GetRouteResponse(route=self._get(self.routes, "GetRoute", request, context))

    def ListRoutes(self, request, context):
        return pb.ListRoutesResponse(routes=self._list(self.routes, "ListRoutes", request, context))

    def DeleteRoute(self, request, context):
        self._delete(self.routes, "DeleteRoute", request, context)
        return pb.DeleteRouteResponse()

    def _in_scope(self, parent: str) -> list[price_pb2.ModelPrice]:
        if not parent:
            return [p for n, p in sorted(self.prices.items()) if n.startswith("prices/")]
        return [p for n, p in sorted(self.prices.items()) if n.startswith(parent + "/prices/")]

    def SetModelPrice(self, request, context):
        self._auth("SetModelPrice", request, context)
        price = _copy(request.model_price)
        try:
            domain_prices.validate(price)
        except domain_errors.InvalidArgument as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        prefix = f"{request.parent}/prices/" if request.parent else "prices/"
        if not price.name:
            price.name = f"{prefix}p{next(self._ids):06d}"
        elif not price.name.startswith(prefix) or "/" in price.name.removeprefix(prefix):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"name must be under {prefix!r}")
        self.catalog_revision += 1
        price.etag = str(self.catalog_revision)
        self.prices[price.name] = price
        return pb.SetModelPriceResponse(
            model_price=price, catalog_version=str(self.catalog_revision)
        )

    def ListModelPrices(self, request, context):
        self._auth("ListModelPrices", request, context)
        return pb.ListModelPricesResponse(
            model_prices=self._in_scope(request.parent),
            catalog_version=str(self.catalog_revision or "default"),
        )

    def DeleteModelPrice(self, request, context):
        self._auth("DeleteModelPrice", request, context)
        if self.prices.pop(request.name, None) is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        return pb.DeleteModelPriceResponse()

    def ListUnpricedModels(self, request, context):
        self._auth("ListUnpricedModels", request, context)
        if not request.filter.workspace:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "filter.workspace is required")
        return pb.ListUnpricedModelsResponse(models=self.unpriced)

    def EstimateCost(self, request, context):
        """Priced with the real domain code (the data plane's arithmetic)."""
        self._auth("EstimateCost", request, context)
        version = str(self.catalog_revision or "default")
        try:
            tokens = domain_prices.token_counts(
                input=request.input_tokens,
                output=request.output_tokens,
                cached_input=request.cached_input_tokens,
                cache_write=request.cache_write_tokens,
                reasoning=request.reasoning_tokens,
            )
            found = domain_prices.estimate(
                self._in_scope(""),
                self._in_scope(request.workspace) if request.workspace else [],
                provider=request.provider,
                model=request.model,
                at=int(self.now.timestamp()),
                tokens=tokens,
                version=version,
            )
        except domain_errors.InvalidArgument as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        except domain_errors.NotFound as e:
            context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        return pb.EstimateCostResponse(
            cost_micro_usd=found.cost.micro_usd, model_price=found.price, catalog_version=version
        )

    def _page(self, items, request):
        start = int(request.page_token or 0)
        end = start + (request.page_size or 50)
        return items[start:end], (str(end) if end < len(items) else "")

    def ListAuditEvents(self, request, context):
        self._auth("ListAuditEvents", request, context)
        items = [
            e for e in self.audit_events if not request.parent or e.workspace == request.parent
        ]
        page, token = self._page(items, request)
        return pb.ListAuditEventsResponse(audit_events=page, next_page_token=token)

    def ListPromptLogs(self, request, context):
        self._auth("ListPromptLogs", request, context)
        if not request.filter.workspace:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "filter.workspace is required")
        items = [p for p in self.prompt_logs if p.workspace == request.filter.workspace]
        page, token = self._page(items, request)
        return pb.ListPromptLogsResponse(prompt_logs=page, next_page_token=token)

    def PurgePromptLogs(self, request, context):
        self._auth("PurgePromptLogs", request, context)
        keep = [p for p in self.prompt_logs if p.text.expire_time.ToDatetime(UTC) > self.now]
        purged = len(self.prompt_logs) - len(keep)
        self.prompt_logs = keep
        return pb.PurgePromptLogsResponse(purged=purged, purge_time=_ts(self.now))


@contextmanager
def serve_fake_admin() -> Iterator[tuple[FakeAdmin, str]]:
    fake = FakeAdmin()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    admin_service_pb2_grpc.add_AdminServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield fake, f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


@pytest.fixture
def demo_cli() -> Iterator[tuple[FakeAdmin, dict[str, str]]]:
    """A fake admin API with workspace `demo`, and the env that points the CLI at it."""
    with serve_fake_admin() as (admin, address):
        env = {
            "OGGY_ADMIN_ADDRESS": address,
            "OGGY_ADMIN_TOKEN": TOKEN,
            "OGGY_WORKSPACE": "demo",
        }
        assert main.run(["workspace", "create", "demo"], env=env) == 0
        yield admin, env


def oggy(env: dict[str, str], *argv: str) -> int:
    return main.run(list(argv), env=env)


def last(admin: FakeAdmin, method: str):
    return next(r for m, r in reversed(admin.requests) if m == method)
