"""Snapshot → CompiledConfig: validation and every index the hot path needs.

A request does a dict lookup for its key id, a memoised policy decision and a
memoised route; everything else (glob compilation, policy merging, URL
parsing, the Authorization header of each provider) happens here, once per
config change. `compile_snapshot` raises `ConfigError` when the snapshot is
invalid or inconsistent; the caller NACKs and keeps serving the previous one.

Dangling references that can legitimately appear while an operator edits
config (a policy targeting a deleted key, an actor listing a deleted team) are
ignored rather than rejected: rejecting them would wedge every later update.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from google.protobuf.timestamp_pb2 import Timestamp
from yarl import URL

from oggy.contract.dialects import (
    ANTHROPIC_FAMILY,
    OPENAI_FAMILY,
    Dialect,
    UpstreamTarget,
    dialect_for,
)
from oggy.contract.globs import GlobError, compile_globs, is_glob
from oggy.contract.identity import (
    PROCESS_REPLAY_CACHES,
    ActorEntry,
    IdentityConfigError,
    ReplayCaches,
    WorkspaceIdentity,
    build_actor_entries,
    build_workspace_identity,
)
from oggy.contract.policy import EffectivePolicy, PolicyError, PolicySets, compile_effective
from oggy.contract.price_book import PriceBook, compile_price_books
from oggy.contract.prompt_logging import (
    DEFAULT_PROMPT_LOGGING,
    PromptLoggingError,
    PromptLoggingPolicy,
    compile_prompt_logging,
    validate_policy,
)
from oggy.contract.redaction import Redactor
from oggy.contract.routing import Router, RoutingTable, Target
from oggy.v1 import actor_pb2, key_pb2, policy_pb2, provider_pb2, snapshot_pb2

_ID = r"[a-z][a-z0-9-]{0,62}"
_WORKSPACE = re.compile(rf"workspaces/({_ID})")
_CHILD = re.compile(rf"(workspaces/{_ID})/(keys|actors|providers|policies|routes)/({_ID})")
# Memoised upstream URLs per provider, per (operation, model).
_URL_CACHE_SIZE = 1024
_SECRET_SHA256_LEN = 32
# (resource name, collection) → parent workspace name; raises ConfigError.
ParentOf = Callable[[str, str], str]


class ConfigError(ValueError):
    """The snapshot cannot be served; the message says which resource and why."""


@dataclass(frozen=True, slots=True, eq=False)
class CompiledProvider:
    name: str
    workspace: str
    kind: int
    base_url: str
    chat_url: URL
    models: tuple[str, ...]
    # Ready-made `Bearer <api key>` header value, None when the provider needs none.
    authorization: str | None = field(repr=False)
    # URL, auth and price-catalog kind of this provider kind (oggy.contract.dialects).
    dialect: Dialect = field(default=None, repr=False)  # type: ignore[assignment]
    # The headers carrying the provider key (`Authorization`, `api-key`, `x-api-key`).
    auth_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    target: UpstreamTarget = field(default=None, repr=False)  # type: ignore[assignment]
    _urls: dict[tuple[str, str], URL] = field(default_factory=dict, repr=False)

    @property
    def family(self) -> str:
        return self.dialect.family

    @property
    def kind_name(self) -> str:
        """The provider kind as the price catalog names it (`openai`, `azure_openai`, ...)."""
        return self.dialect.kind

    def url(self, op: str, model: str) -> URL:
        """The upstream URL of operation `op` (`chat/completions`, `messages`) for `model`."""
        key = (op, model)
        found = self._urls.get(key)
        if found is None:
            found = URL(self.dialect.url(self.target, op, model), encoded=True)
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()
            self._urls[key] = found
        return found

    def __repr__(self) -> str:
        return f"CompiledProvider(name={self.name!r}, base_url={self.base_url!r})"


@dataclass(frozen=True, slots=True)
class CompiledWorkspace:
    name: str
    providers: tuple[CompiledProvider, ...]
    # OpenAI-wire providers by model (routes aside); `routing` is what requests use.
    router: Router[CompiledProvider]
    # Concrete model names (no globs) and route aliases for /v1/models, sorted.
    models: tuple[tuple[str, CompiledProvider], ...]
    routing: RoutingTable[CompiledProvider] = field(default=None, repr=False)  # type: ignore[assignment]
    prices: PriceBook = field(default=None, repr=False)  # type: ignore[assignment]

    def targets(self, model: str, family: str) -> tuple[Target[CompiledProvider], ...]:
        """Where a request for `model` on an endpoint of wire `family` goes, in order."""
        return self.routing.resolve(model, family)

    def first_passthrough(self) -> CompiledProvider | None:
        """The provider for an OpenAI path whose body names no model."""
        for p in self.providers:
            if p.dialect.passthrough:
                return p
        return None


@dataclass(frozen=True, slots=True)
class CompiledKey:
    name: str
    key_id: str
    workspace: CompiledWorkspace
    display_name: str
    actor: str
    environment: str
    revoked: bool
    expire_s: float | None
    secret_sha256: bytes = field(repr=False)
    policy: EffectivePolicy = field(repr=False)
    actor_disabled: bool = False
    # Prompt logging mode, retention and the compiled Redactor (core/prompt_logging.py).
    prompt_logging: PromptLoggingPolicy = field(default=DEFAULT_PROMPT_LOGGING, repr=False)
    # Rotation: the secret from before the last rotation works until `previous_expire_s`.
    previous_secret_sha256: bytes | None = field(default=None, repr=False)
    previous_expire_s: float | None = None
    # The workspace's actors and actor-token verifiers; the key's bound actor, if any.
    identity: WorkspaceIdentity = field(default=None, repr=False)  # type: ignore[assignment]
    bound_actor: ActorEntry | None = field(default=None, repr=False)
    # Names of the policies merged into `policy` (sorted), for merging in a token's actor.
    policy_names: tuple[str, ...] = ()

    @property
    def workspace_name(self) -> str:
        return self.workspace.name


@dataclass(frozen=True, slots=True)
class CompiledConfig:
    revision: int
    keys_by_id: Mapping[str, CompiledKey]
    workspaces: Mapping[str, CompiledWorkspace]
    # Things served partially (e.g. a provider kind that needs translation not built yet).
    warnings: tuple[str, ...] = ()
    # Per workspace: actors by name and id, actor-token verifiers.
    identities: Mapping[str, WorkspaceIdentity] = field(
        default_factory=lambda: MappingProxyType({})
    )


def compile_snapshot(
    snapshot: snapshot_pb2.Snapshot, *, replay_caches: ReplayCaches | None = None
) -> CompiledConfig:
    """`replay_caches`: seen actor-token ids, kept across compiles (default: the process's)."""
    if snapshot.revision < 0:
        raise ConfigError(f"snapshot revision {snapshot.revision} is negative")
    warnings: list[str] = []

    workspace_names: set[str] = set()
    for ws in snapshot.workspaces:
        if not _WORKSPACE.fullmatch(ws.name):
            raise ConfigError(f"workspace name {ws.name!r} is not `workspaces/{{id}}`")
        if ws.name in workspace_names:
            raise ConfigError(f"workspace {ws.name} appears twice")
        workspace_names.add(ws.name)

    def parent_of(name: str, kind: str) -> str:
        m = _CHILD.fullmatch(name)
        if m is None or m.group(2) != kind:
            raise ConfigError(f"{kind[:-1]} name {name!r} is not `workspaces/{{w}}/{kind}/{{id}}`")
        if m.group(1) not in workspace_names:
            raise ConfigError(f"{name}: workspace {m.group(1)} is not in the snapshot")
        return m.group(1)

    # Actors: name → (disabled, teams).
    actors: dict[str, tuple[bool, tuple[str, ...]]] = {}
    for actor in snapshot.actors:
        parent = parent_of(actor.name, "actors")
        if actor.name in actors:
            raise ConfigError(f"actor {actor.name} appears twice")
        for team in actor.teams:
            if not team.startswith(parent + "/actors/"):
                raise ConfigError(f"actor {actor.name}: team {team!r} is not in {parent}")
        actors[actor.name] = (actor.disabled, tuple(actor.teams))

    price_books = compile_price_books(snapshot.prices, workspace_names, ConfigError)
    workspaces = _compile_providers(snapshot, parent_of, workspace_names, warnings, price_books)
    policies_by_target = _index_policies(snapshot, parent_of)

    keys_by_id: dict[str, CompiledKey] = {}
    effective_cache: dict[tuple[str, ...], EffectivePolicy] = {}
    prompt_cache: dict[tuple[str, ...], PromptLoggingPolicy] = {}
    redactors: dict[tuple[tuple[str, str], ...], Redactor] = {}
    key_names: set[str] = set()
    identities = _compile_identities(
        snapshot,
        workspace_names,
        replay_caches or PROCESS_REPLAY_CACHES,
        policies_by_target,
        PolicySets({p.name: p for p in snapshot.policies}, effective_cache),
    )
    for material in snapshot.keys:
        key = material.key
        parent = parent_of(key.name, "keys")
        if key.name in key_names:
            raise ConfigError(f"key {key.name} appears twice")
        key_names.add(key.name)
        key_id = key.name.rsplit("/", 1)[1]
        if key_id in keys_by_id:
            raise ConfigError(
                f"key id {key_id!r} is used by both {keys_by_id[key_id].name} and {key.name}"
            )
        if len(material.secret_sha256) != _SECRET_SHA256_LEN:
            raise ConfigError(f"key {key.name}: secret_sha256 must be 32 bytes")
        actor_disabled = False
        teams: tuple[str, ...] = ()
        if key.actor:
            if not key.actor.startswith(parent + "/actors/"):
                raise ConfigError(f"key {key.name}: actor {key.actor!r} is not in {parent}")
            if key.actor not in actors:
                raise ConfigError(f"key {key.name}: actor {key.actor} is not in the snapshot")
            actor_disabled, teams = actors[key.actor]
        targets = (parent, *teams, *((key.actor,) if key.actor else ()), key.name)
        applying = sorted(
            {p.name: p for t in targets for p in policies_by_target.get(t, ())}.values(),
            key=lambda p: p.name,
        )
        cache_key = tuple(p.name for p in applying)
        effective = effective_cache.get(cache_key)
        if effective is None:
            try:
                effective = compile_effective(applying)
            except (PolicyError, GlobError) as e:
                raise ConfigError(str(e)) from e
            effective_cache[cache_key] = effective
        prompt_logging = prompt_cache.get(cache_key)
        if prompt_logging is None:
            try:
                prompt_logging = compile_prompt_logging(applying, redactors)
            except PromptLoggingError as e:
                raise ConfigError(str(e)) from e
            prompt_cache[cache_key] = prompt_logging
        keys_by_id[key_id] = CompiledKey(
            name=key.name,
            key_id=key_id,
            workspace=workspaces[parent],
            display_name=key.display_name,
            actor=key.actor,
            environment=key.environment,
            revoked=key.state == key_pb2.GatewayKey.STATE_REVOKED,
            expire_s=_seconds(key.expire_time) if key.HasField("expire_time") else None,
            secret_sha256=bytes(material.secret_sha256),
            policy=effective,
            actor_disabled=actor_disabled,
            **_previous_secret(material),
            identity=identities[parent],
            policy_names=cache_key,
            bound_actor=identities[parent].actors.get(key.actor) if key.actor else None,
            prompt_logging=prompt_logging,
        )

    return CompiledConfig(
        revision=snapshot.revision,
        keys_by_id=MappingProxyType(keys_by_id),
        workspaces=MappingProxyType(workspaces),
        warnings=tuple(warnings),
        identities=MappingProxyType(identities),
    )


def _previous_secret(material: snapshot_pb2.KeyMaterial) -> dict[str, object]:
    """The pre-rotation secret hash and its deadline; without a deadline it never works."""
    previous = material.previous_secret_sha256
    if not previous:
        return {}
    if len(previous) != _SECRET_SHA256_LEN:
        raise ConfigError(f"key {material.key.name}: previous_secret_sha256 must be 32 bytes")
    if not material.key.HasField("previous_secret_expire_time"):
        return {}
    return {
        "previous_secret_sha256": bytes(previous),
        "previous_expire_s": _seconds(material.key.previous_secret_expire_time),
    }


_SIGNING_KEY = re.compile(rf"(workspaces/{_ID})/signingKeys/({_ID})")


def _compile_identities(
    snapshot: snapshot_pb2.Snapshot,
    workspace_names: set[str],
    replay_caches: ReplayCaches,
    policies_by_target: Mapping[str, list[policy_pb2.Policy]],
    policy_sets: PolicySets,
) -> dict[str, WorkspaceIdentity]:
    """Per workspace: its actors (by name and bare id, with the names of the policies on
    their teams and themselves) and actor-token verifiers."""

    def actor_policies(a: actor_pb2.Actor) -> tuple[str, ...]:
        targets = (*a.teams, a.name)
        return tuple(sorted({p.name for t in targets for p in policies_by_target.get(t, ())}))

    actors: dict[str, list[actor_pb2.Actor]] = {w: [] for w in workspace_names}
    for actor in snapshot.actors:  # names already checked by the caller
        actors[actor.name.split("/actors/", 1)[0]].append(actor)
    signing: dict[str, list[snapshot_pb2.SigningKeyMaterial]] = {w: [] for w in workspace_names}
    for material in snapshot.signing_keys:
        name = material.signing_key.name
        m = _SIGNING_KEY.fullmatch(name)
        if m is None:
            raise ConfigError(
                f"signing key name {name!r} is not `workspaces/{{w}}/signingKeys/{{kid}}`"
            )
        if m.group(1) not in workspace_names:
            raise ConfigError(f"{name}: workspace {m.group(1)} is not in the snapshot")
        signing[m.group(1)].append(material)
    replay_caches.retain(workspace_names)
    out: dict[str, WorkspaceIdentity] = {}
    for ws in workspace_names:
        try:
            out[ws] = build_workspace_identity(
                ws,
                build_actor_entries(ws, actors[ws], actor_policies),
                signing[ws],
                replay_caches.get(ws),
                policy_sets=policy_sets,
            )
        except IdentityConfigError as e:
            raise ConfigError(str(e)) from e
    return out


def _seconds(ts: Timestamp) -> float:
    return ts.seconds + ts.nanos / 1e9


def _index_policies(
    snapshot: snapshot_pb2.Snapshot, parent_of: ParentOf
) -> dict[str, list[policy_pb2.Policy]]:
    by_target: dict[str, list[policy_pb2.Policy]] = {}
    seen: set[str] = set()
    for p in snapshot.policies:
        parent = parent_of(p.name, "policies")
        if p.name in seen:
            raise ConfigError(f"policy {p.name} appears twice")
        seen.add(p.name)
        target = p.target or parent
        if target != parent and not (
            target.startswith(parent + "/actors/") or target.startswith(parent + "/keys/")
        ):
            raise ConfigError(
                f"policy {p.name}: target {p.target!r} is not {parent} or an actor or key in it"
            )
        # Each policy must compile on its own, even if nothing it targets exists.
        try:
            compile_effective([p])
            validate_policy(p)
        except (PolicyError, GlobError, PromptLoggingError) as e:
            raise ConfigError(str(e)) from e
        by_target.setdefault(target, []).append(p)
    return by_target


def _compile_providers(
    snapshot: snapshot_pb2.Snapshot,
    parent_of: ParentOf,
    workspace_names: set[str],
    warnings: list[str],
    price_books: Mapping[str, PriceBook],
) -> dict[str, CompiledWorkspace]:
    per_ws: dict[str, list[CompiledProvider]] = {w: [] for w in workspace_names}
    seen: set[str] = set()
    for material in sorted(snapshot.providers, key=lambda m: m.provider.name):
        p = material.provider
        parent = parent_of(p.name, "providers")
        if p.name in seen:
            raise ConfigError(f"provider {p.name} appears twice")
        seen.add(p.name)
        base_url = _base_url(p.name, p.base_url)
        for m in p.models:
            try:
                compile_globs([m])
            except GlobError as e:
                raise ConfigError(f"provider {p.name}: {e}") from e
        api_key = material.api_key
        if api_key and (api_key != api_key.strip() or any(c in api_key for c in "\r\n\0 \t")):
            raise ConfigError(f"provider {p.name}: api_key contains whitespace or control chars")
        dialect = dialect_for(p.kind)
        if dialect is None:
            warnings.append(f"provider {p.name}: kind {p.kind} is unknown; not routed")
            continue
        if dialect.family != OPENAI_FAMILY:
            kind = provider_pb2.ProviderCredential.Kind.Name(p.kind)
            warnings.append(
                f"provider {p.name}: kind {kind} serves only its native API (/v1/messages);"
                " no translation from OpenAI endpoints"
            )
        target = UpstreamTarget(base_url, p.api_version, MappingProxyType(dict(p.deployments)))
        per_ws[parent].append(
            CompiledProvider(
                name=p.name,
                workspace=parent,
                kind=p.kind,
                base_url=base_url,
                chat_url=URL(dialect.url(target, "chat/completions", ""), encoded=True),
                models=tuple(p.models),
                authorization=f"Bearer {api_key}" if api_key else None,
                dialect=dialect,
                auth_headers=MappingProxyType(dialect.auth_headers(api_key)),
                target=target,
            )
        )

    routes = _compile_routes(snapshot, parent_of, per_ws, warnings)
    out: dict[str, CompiledWorkspace] = {}
    for ws, providers in per_ws.items():
        routers = {
            family: Router.build([(p.models, p) for p in providers if p.family == family])
            for family in (OPENAI_FAMILY, ANTHROPIC_FAMILY)
        }
        listed: dict[str, CompiledProvider] = {}
        for p in providers:
            for m in p.models:
                if not is_glob(m):
                    listed.setdefault(m, p)
        ws_routes = routes.get(ws, {})
        for alias, targets in ws_routes.items():
            if targets:
                listed[alias] = targets[0].provider
        out[ws] = CompiledWorkspace(
            name=ws,
            providers=tuple(providers),
            router=routers[OPENAI_FAMILY],
            models=tuple(sorted(listed.items(), key=lambda item: item[0])),
            routing=RoutingTable(ws_routes, routers, _family_of),
            prices=price_books[ws],
        )
    return out


def _family_of(p: CompiledProvider) -> str:
    return p.dialect.family


def _compile_routes(
    snapshot: snapshot_pb2.Snapshot,
    parent_of: ParentOf,
    per_ws: Mapping[str, list[CompiledProvider]],
    warnings: list[str],
) -> dict[str, dict[str, tuple[Target[CompiledProvider], ...]]]:
    """Route model/alias → its targets, per workspace. A target whose provider is gone
    is skipped (a dangling reference while an operator edits); two routes for one
    model: the first by resource name wins, with a warning."""
    by_name = {p.name: p for providers in per_ws.values() for p in providers}
    out: dict[str, dict[str, tuple[Target[CompiledProvider], ...]]] = {}
    seen: set[str] = set()
    for route in sorted(snapshot.routes, key=lambda r: r.name):
        parent = parent_of(route.name, "routes")
        if route.name in seen:
            raise ConfigError(f"route {route.name} appears twice")
        seen.add(route.name)
        if not route.model or len(route.model) > 256 or is_glob(route.model):
            raise ConfigError(f"route {route.name}: model {route.model!r} must be an exact name")
        targets: list[Target[CompiledProvider]] = []
        for t in route.targets:
            if not t.provider.startswith(parent + "/providers/"):
                raise ConfigError(f"route {route.name}: provider {t.provider!r} is not in {parent}")
            if len(t.model) > 256 or is_glob(t.model):
                raise ConfigError(f"route {route.name}: target model {t.model!r} is not a name")
            provider = by_name.get(t.provider)
            if provider is None:
                warnings.append(f"route {route.name}: provider {t.provider} is not served")
                continue
            targets.append(Target(provider, t.model or route.model))
        ws_routes = out.setdefault(parent, {})
        if route.model in ws_routes:
            warnings.append(f"route {route.name}: model {route.model!r} already routed; ignored")
            continue
        ws_routes[route.model] = tuple(targets)
    return out


def _base_url(name: str, raw: str) -> str:
    if not raw:
        raise ConfigError(f"provider {name}: base_url is empty")
    try:
        url = URL(raw)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"provider {name}: base_url {raw!r} does not parse: {e}") from e
    if url.scheme not in ("http", "https"):
        raise ConfigError(f"provider {name}: base_url {raw!r} must be http:// or https://")
    if not url.host:
        raise ConfigError(f"provider {name}: base_url {raw!r} has no host")
    if url.user or url.password:
        raise ConfigError(f"provider {name}: base_url must not carry credentials")
    if url.query_string or url.fragment:
        raise ConfigError(f"provider {name}: base_url {raw!r} must not have a query or fragment")
    try:
        url.port  # noqa: B018 - raises on an out-of-range port
    except ValueError as e:
        raise ConfigError(f"provider {name}: base_url {raw!r}: {e}") from e
    return str(url).rstrip("/")
