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

from dataplane.core.globs import GlobError, compile_globs, is_glob
from dataplane.core.policy import EffectivePolicy, PolicyError, compile_effective
from dataplane.core.routing import Router
from oggy.v1 import key_pb2, policy_pb2, provider_pb2, snapshot_pb2

_ID = r"[a-z][a-z0-9-]{0,62}"
_WORKSPACE = re.compile(rf"workspaces/({_ID})")
_CHILD = re.compile(rf"(workspaces/{_ID})/(keys|actors|providers|policies)/({_ID})")
# Kinds whose wire protocol is OpenAI's chat completions as is.
_OPENAI_KINDS = frozenset(
    {
        provider_pb2.ProviderCredential.KIND_UNSPECIFIED,
        provider_pb2.ProviderCredential.KIND_OPENAI,
        provider_pb2.ProviderCredential.KIND_OPENAI_COMPATIBLE,
    }
)
_SECRET_SHA256_LEN = 32
# (resource name, collection) → parent workspace name; raises ConfigError.
ParentOf = Callable[[str, str], str]


class ConfigError(ValueError):
    """The snapshot cannot be served; the message says which resource and why."""


@dataclass(frozen=True, slots=True)
class CompiledProvider:
    name: str
    workspace: str
    kind: int
    base_url: str
    chat_url: URL
    models: tuple[str, ...]
    # Ready-made `Bearer <api key>` header value, None when the provider needs none.
    authorization: str | None = field(repr=False)

    def __repr__(self) -> str:
        return f"CompiledProvider(name={self.name!r}, base_url={self.base_url!r})"


@dataclass(frozen=True, slots=True)
class CompiledWorkspace:
    name: str
    providers: tuple[CompiledProvider, ...]
    router: Router[CompiledProvider]
    # Concrete model names (no globs) for /v1/models, sorted, with their provider.
    models: tuple[tuple[str, CompiledProvider], ...]


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


def compile_snapshot(snapshot: snapshot_pb2.Snapshot) -> CompiledConfig:
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

    workspaces = _compile_providers(snapshot, parent_of, workspace_names, warnings)
    policies_by_target = _index_policies(snapshot, parent_of)

    keys_by_id: dict[str, CompiledKey] = {}
    effective_cache: dict[tuple[str, ...], EffectivePolicy] = {}
    key_names: set[str] = set()
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
        )

    return CompiledConfig(
        revision=snapshot.revision,
        keys_by_id=MappingProxyType(keys_by_id),
        workspaces=MappingProxyType(workspaces),
        warnings=tuple(warnings),
    )


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
        except (PolicyError, GlobError) as e:
            raise ConfigError(str(e)) from e
        by_target.setdefault(target, []).append(p)
    return by_target


def _compile_providers(
    snapshot: snapshot_pb2.Snapshot,
    parent_of: ParentOf,
    workspace_names: set[str],
    warnings: list[str],
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
        if p.kind not in _OPENAI_KINDS:
            kind = provider_pb2.ProviderCredential.Kind.Name(p.kind)
            warnings.append(f"provider {p.name}: kind {kind} is not routed yet")
            continue
        per_ws[parent].append(
            CompiledProvider(
                name=p.name,
                workspace=parent,
                kind=p.kind,
                base_url=base_url,
                chat_url=URL(base_url + "/chat/completions"),
                models=tuple(p.models),
                authorization=f"Bearer {api_key}" if api_key else None,
            )
        )

    out: dict[str, CompiledWorkspace] = {}
    for ws, providers in per_ws.items():
        router = Router.build([(p.models, p) for p in providers])
        listed: dict[str, CompiledProvider] = {}
        for p in providers:
            for m in p.models:
                if not is_glob(m):
                    listed.setdefault(m, p)
        out[ws] = CompiledWorkspace(
            name=ws,
            providers=tuple(providers),
            router=router,
            models=tuple(sorted(listed.items())),
        )
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
