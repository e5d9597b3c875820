"""Property: whatever the admin API accepts, the data plane's compiler accepts.

Random sequences of admin writes (policies with random globs, CIDRs and limits, keys
bound to actors or not, actors in teams, providers, routes, signing keys with random
kids, rate limits and budgets with random scopes, windows and enums, deletes) run
against an AdminServicer on an InMemoryStore; many are refused. Afterwards the whole
stored config, loaded the way the publisher loads it, compiles with `compile_snapshot`,
and the publisher holds nothing back.
"""

from __future__ import annotations

import asyncio
import random
import string
from typing import Any

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlplane.api.admin_servicer import AdminServicer
from controlplane.publisher import ConfigPublisher
from controlplane.publisher.loader import ResourceLoader
from controlplane.secrets import EnvelopeCipher, Kek
from controlplane.store.memory import InMemoryStore
from oggy.contract.compile import compile_snapshot
from oggy.contract.identity import ReplayCaches
from oggy.contract.snapshot import build_snapshot
from oggy.v1 import (
    actor_pb2,
    budget_pb2,
    key_pb2,
    limit_pb2,
    policy_pb2,
    provider_pb2,
    route_pb2,
    scope_pb2,
    signing_key_pb2,
    snapshot_pb2,
)
from oggy.v1 import admin_service_pb2 as pb

PREFIX = "/oggy/"
WORKSPACES = ("workspaces/w1", "workspaces/w2")
IDS = ("a", "b", "c")
SK = signing_key_pb2.SigningKey
ED_PEM = (
    ed25519.Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
KEK = Kek.generate()


class Refused(Exception):
    pass


class Ctx:
    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Refused(code, details)


workspaces = st.sampled_from(WORKSPACES)
ids = st.sampled_from(IDS)
# Mostly plausible values, with the characters and shapes that matter mixed in: fnmatch
# syntax, characters the compiler refuses (`=`, `#`), malformed CIDRs, negative limits.
models = st.sampled_from(["gpt-4o", "o3-mini", "meta/llama:8b", "x@2024", "gpt=4o", "a b"])
globs = st.one_of(
    models,
    st.sampled_from(["gpt-4o*", "o3-?", "llama[23]*", "m*", "gpt-[4", "[!]x"]),
    st.text(alphabet="gpt-4o.*?[]!=/:@+#", min_size=1, max_size=8),
)
cidrs = st.one_of(
    st.sampled_from(["10.0.0.0/8", "10.0.0.1/8", "::1/128", "fe80::/10", "0.0.0.0/0", "1.2.3.4"]),
    st.sampled_from(["300.1.1.1/8", "10.0.0.0/33", "not-a-cidr", "", "1.2.3.4/"]),
)
limits = st.integers(min_value=-1, max_value=10**9)
kids = st.one_of(
    st.sampled_from(["k1", "ed-1", "hs"]),
    st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=10),
)


def target_names(workspace: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.just(workspace),
        st.sampled_from(WORKSPACES),
        ids.map(lambda i: f"{workspace}/actors/{i}"),
        ids.map(lambda i: f"{workspace}/keys/{i * 16}"),
        ids.map(lambda i: f"{workspace}/providers/{i}"),
    )


@st.composite
def policy_writes(draw: st.DrawFn) -> tuple[str, Any]:
    workspace = draw(workspaces)
    policy = policy_pb2.Policy(
        target=draw(target_names(workspace)),
        allowed_models=draw(st.lists(globs, max_size=3)),
        denied_models=draw(st.lists(globs, max_size=2)),
        allowed_cidrs=draw(st.lists(cidrs, max_size=1)),
        trusted_proxy_cidrs=draw(st.lists(cidrs, max_size=1)),
        max_output_tokens=draw(limits),
        max_tokens_mode=draw(st.integers(0, 3)),
        prompt_logging=draw(st.integers(0, 4)),
        require_actor_token=draw(st.booleans()),
        shadow=draw(st.booleans()),
        allowed_providers=draw(
            st.lists(ids.map(lambda i: f"{workspace}/providers/{i}"), max_size=2)
        ),
    )
    policy_id = draw(ids)
    if draw(st.booleans()):
        return "CreatePolicy", pb.CreatePolicyRequest(
            parent=workspace, policy_id=policy_id, policy=policy
        )
    policy.name = f"{workspace}/policies/{policy_id}"
    paths = draw(
        st.lists(st.sampled_from(["allowed_models", "allowed_cidrs", "target"]), min_size=1)
    )
    return "UpdatePolicy", pb.UpdatePolicyRequest(
        policy=policy, update_mask=FieldMask(paths=sorted(set(paths)))
    )


@st.composite
def key_writes(draw: st.DrawFn) -> tuple[str, Any]:
    workspace = draw(workspaces)
    actor = draw(st.one_of(st.just(""), ids.map(lambda i: f"{workspace}/actors/{i}")))
    key = key_pb2.GatewayKey(
        actor=actor, environment=draw(st.sampled_from(["", "live", "test", "prod", "Bad Env"]))
    )
    return "CreateGatewayKey", pb.CreateGatewayKeyRequest(
        parent=workspace, key_id=draw(ids) * 16, gateway_key=key
    )


@st.composite
def actor_writes(draw: st.DrawFn) -> tuple[str, Any]:
    workspace = draw(workspaces)
    team_workspace = draw(st.one_of(st.just(workspace), workspaces))
    teams = draw(st.lists(ids.map(lambda i: f"{team_workspace}/actors/{i}"), max_size=2))
    actor = actor_pb2.Actor(teams=teams, kind=draw(st.integers(0, 4)), disabled=draw(st.booleans()))
    actor_id = draw(ids)
    if draw(st.booleans()):
        return "CreateActor", pb.CreateActorRequest(
            parent=workspace, actor_id=actor_id, actor=actor
        )
    actor.name = f"{workspace}/actors/{actor_id}"
    return "UpdateActor", pb.UpdateActorRequest(
        actor=actor, update_mask=FieldMask(paths=["teams", "disabled"])
    )


def provider_body(
    models: list[str], kind: int = 1, base_url: str = "http://127.0.0.1:9/v1"
) -> provider_pb2.ProviderCredential:
    return provider_pb2.ProviderCredential(
        kind=kind,
        base_url=base_url,
        models=models,
        api_key="sk-prop-0123456789",
        allow_private_network=True,
    )


@st.composite
def provider_writes(draw: st.DrawFn) -> tuple[str, Any]:
    workspace = draw(workspaces)
    body = provider_body(
        draw(st.lists(globs, min_size=1, max_size=3)),
        draw(st.integers(1, 5)),
        draw(st.sampled_from(["http://127.0.0.1:9/v1", "https://api.example.com", "x"])),
    )
    return "CreateProviderCredential", pb.CreateProviderCredentialRequest(
        parent=workspace, provider_id=draw(ids), provider_credential=body
    )


@st.composite
def route_writes(draw: st.DrawFn) -> tuple[str, Any]:
    workspace = draw(workspaces)
    targets = draw(
        st.lists(
            st.builds(
                route_pb2.RouteTarget,
                provider=ids.map(lambda i: f"{workspace}/providers/{i}"),
                model=st.one_of(st.just(""), models, globs),
            ),
            min_size=1,
            max_size=3,
        )
    )
    route = route_pb2.Route(model=draw(st.one_of(models, globs)), targets=targets)
    return "CreateRoute", pb.CreateRouteRequest(parent=workspace, route_id=draw(ids), route=route)


@st.composite
def signing_key_writes(draw: st.DrawFn) -> tuple[str, Any]:
    workspace = draw(workspaces)
    if draw(st.booleans()):
        key = SK(algorithm=SK.ALGORITHM_EDDSA, public_key_pem=ED_PEM)
    else:
        key = SK(algorithm=SK.ALGORITHM_HS256, hmac_secret="s" * draw(st.integers(30, 40)))
    return "CreateSigningKey", pb.CreateSigningKeyRequest(
        parent=workspace, signing_key_id=draw(kids), signing_key=key
    )


def scope_refs(workspace: str, collection: str, repeat: int = 1) -> st.SearchStrategy[str]:
    """Mostly "" (any) or a resource that may exist here; else another workspace's, or
    a malformed name."""
    return st.one_of(
        st.just(""),
        st.just(""),
        ids.map(lambda i: i * repeat),
        ids.map(lambda i: f"{workspace}/{collection}/{i * repeat}"),
        st.sampled_from(WORKSPACES).map(lambda w: f"{w}/{collection}/{'a' * repeat}"),
        st.sampled_from(["Bad Id", f"{workspace}/nope/a", "/"]),
    )


@st.composite
def random_scopes(draw: st.DrawFn, workspace: str) -> scope_pb2.Scope:
    return scope_pb2.Scope(
        team=draw(scope_refs(workspace, "actors")),
        actor=draw(scope_refs(workspace, "actors")),
        key=draw(scope_refs(workspace, "keys", 16)),
        app=draw(st.sampled_from(["", "bot", "a\x01b"])),
        environment=draw(st.sampled_from(["", "prod"])),
        workflow=draw(st.sampled_from(["", "etl"])),
        model=draw(st.one_of(st.just(""), globs)),
        provider=draw(scope_refs(workspace, "providers")),
    )


def scopes(workspace: str) -> st.SearchStrategy[scope_pb2.Scope]:
    """Plausible scopes (the actor and provider `a` exist) half the time, random ones else."""
    plausible = st.sampled_from(
        [
            scope_pb2.Scope(),
            scope_pb2.Scope(team="a", model="m*"),
            scope_pb2.Scope(actor=f"{workspace}/actors/a", app="bot"),
            scope_pb2.Scope(provider="a", workflow="etl"),
        ]
    )
    return st.one_of(plausible, random_scopes(workspace))


def mostly(valid: st.SearchStrategy[Any], anything: st.SearchStrategy[Any]) -> Any:
    return st.one_of(valid, valid, anything)


windows = mostly(
    st.one_of(st.none(), st.builds(Duration, seconds=st.integers(1, 86_400))),
    st.builds(
        Duration, seconds=st.integers(-1, 90_000), nanos=st.sampled_from([0, 1, 500_000_000])
    ),
)
amounts = mostly(st.integers(1, 10**9), limits)


@st.composite
def limit_writes(draw: st.DrawFn) -> tuple[str, Any]:
    workspace = draw(workspaces)
    limit = limit_pb2.Limit(
        scope=draw(scopes(workspace)),
        counted_per=draw(st.integers(0, 4)),
        metric=draw(mostly(st.integers(1, 3), st.integers(0, 4))),
        capacity=draw(amounts),
        window=draw(windows),
        shadow=draw(st.booleans()),
    )
    limit_id = draw(ids)
    if draw(st.booleans()):
        return "CreateLimit", pb.CreateLimitRequest(
            parent=workspace, limit_id=limit_id, limit=limit
        )
    limit.name = f"{workspace}/limits/{limit_id}"
    paths = draw(
        st.lists(
            st.sampled_from(["scope", "metric", "capacity", "window", "counted_per"]), min_size=1
        )
    )
    return "UpdateLimit", pb.UpdateLimitRequest(
        limit=limit, update_mask=FieldMask(paths=sorted(set(paths)))
    )


@st.composite
def budget_writes(draw: st.DrawFn) -> tuple[str, Any]:
    workspace = draw(workspaces)
    budget = budget_pb2.Budget(
        scope=draw(scopes(workspace)),
        counted_per=draw(st.integers(0, 4)),
        amount_micro_usd=draw(amounts),
        period=draw(mostly(st.integers(1, 4), st.integers(0, 5))),
        enforcement=draw(mostly(st.integers(1, 3), st.integers(0, 4))),
        threshold_percents=draw(
            mostly(
                st.lists(st.integers(1, 1000), max_size=3),
                st.lists(st.integers(-1, 1001), max_size=4),
            )
        ),
    )
    budget_id = draw(ids)
    if draw(st.booleans()):
        return "CreateBudget", pb.CreateBudgetRequest(
            parent=workspace, budget_id=budget_id, budget=budget
        )
    budget.name = f"{workspace}/budgets/{budget_id}"
    paths = draw(
        st.lists(
            st.sampled_from(["scope", "period", "enforcement", "threshold_percents"]), min_size=1
        )
    )
    return "UpdateBudget", pb.UpdateBudgetRequest(
        budget=budget, update_mask=FieldMask(paths=sorted(set(paths)))
    )


@st.composite
def deletes(draw: st.DrawFn) -> tuple[str, Any]:
    workspace = draw(workspaces)
    method, collection, resource_id = draw(
        st.sampled_from(
            [
                ("DeleteActor", "actors", "{i}"),
                ("DeleteGatewayKey", "keys", "{i16}"),
                ("RevokeGatewayKey", "keys", "{i16}"),
                ("DeleteProviderCredential", "providers", "{i}"),
                ("DeletePolicy", "policies", "{i}"),
                ("DeleteRoute", "routes", "{i}"),
                ("DeleteLimit", "limits", "{i}"),
                ("DeleteBudget", "budgets", "{i}"),
            ]
        )
    )
    i = draw(ids)
    name = f"{workspace}/{collection}/{resource_id.format(i=i, i16=i * 16)}"
    request_type = getattr(pb, f"{method}Request")
    return method, request_type(name=name)


writes = st.one_of(
    policy_writes(),
    key_writes(),
    actor_writes(),
    provider_writes(),
    route_writes(),
    signing_key_writes(),
    limit_writes(),
    budget_writes(),
    deletes(),
)


def assert_stored_explicitly(snapshot: snapshot_pb2.Snapshot) -> None:
    """Limits and budgets are read back with their defaults written out."""
    for limit in snapshot.limits:
        assert limit.counted_per != scope_pb2.COUNTED_PER_UNSPECIFIED
        concurrent = limit.metric == limit_pb2.Limit.METRIC_CONCURRENT_REQUESTS
        assert limit.HasField("window") is not concurrent
    for budget in snapshot.budgets:
        assert budget.counted_per != scope_pb2.COUNTED_PER_UNSPECIFIED
        assert list(budget.threshold_percents) == sorted(set(budget.threshold_percents))
        assert budget.threshold_percents
    for scoped in [*snapshot.limits, *snapshot.budgets]:
        for ref in (scoped.scope.team, scoped.scope.actor, scoped.scope.key):
            assert not ref or ref.startswith(f"{scoped.name.rsplit('/', 2)[0]}/")


async def run_writes(sequence: list[tuple[str, Any]]) -> tuple[int, int]:
    store = InMemoryStore()
    cipher = EnvelopeCipher(KEK)
    admin = AdminServicer(store, cipher, rng=random.Random(0))
    for workspace in WORKSPACES:
        await admin.CreateWorkspace(
            pb.CreateWorkspaceRequest(workspace_id=workspace.split("/")[1]), Ctx()
        )
        # Something for references to name (through the API, so checked as well).
        await admin.CreateActor(pb.CreateActorRequest(parent=workspace, actor_id="a"), Ctx())
        await admin.CreateProviderCredential(
            pb.CreateProviderCredentialRequest(
                parent=workspace, provider_id="a", provider_credential=provider_body(["m*"])
            ),
            Ctx(),
        )
    accepted = 0
    for method, request in sequence:
        try:
            await getattr(admin, method)(request, Ctx())
        except Refused:
            continue
        accepted += 1

    # Everything stored, loaded as the publisher loads it: compiles as one snapshot.
    items, revision = await store.list_prefix(PREFIX)
    loader = ResourceLoader(cipher, PREFIX)
    resources = []
    for item in items:
        resource = await loader.load(item.key, item.value, item.mod_revision, store.get)
        if resource is not None:
            resources.append(resource)
    snapshot = build_snapshot(revision, resources)
    compile_snapshot(snapshot, replay_caches=ReplayCaches())
    assert_stored_explicitly(snapshot)

    publisher = ConfigPublisher(store, cipher, PREFIX)
    await publisher.start()
    try:
        assert publisher.held() == []
    finally:
        await publisher.stop()
    return accepted, len(sequence)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(writes, min_size=1, max_size=12))
def test_whatever_the_admin_api_accepts_compiles(sequence: list[tuple[str, Any]]) -> None:
    asyncio.run(run_writes(sequence))
