"""One workspace's resources → its CompiledWorkspace, keys and identity, on their own.

Nothing here looks at another workspace: the result is the same whether the
workspace is compiled inside the whole snapshot or in a snapshot holding only
it and the catalog prices, and its errors are its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from oggy.contract.actor_token import ReplayCache
from oggy.contract.compile import refs
from oggy.contract.compile.identities import check_actors, compile_identity
from oggy.contract.compile.keys import compile_keys
from oggy.contract.compile.model import (
    CompiledKey,
    CompiledProvider,
    CompiledWorkspace,
    CompileWarning,
    ConfigError,
)
from oggy.contract.compile.partition import WorkspaceParts
from oggy.contract.compile.policies import WorkspacePolicies
from oggy.contract.compile.providers import compile_providers
from oggy.contract.compile.quota import compile_quota_rules
from oggy.contract.compile.routes import Routes, compile_routes
from oggy.contract.dialects import ANTHROPIC_FAMILY, OPENAI_FAMILY
from oggy.contract.globs import is_glob
from oggy.contract.identity import WorkspaceIdentity
from oggy.contract.price_book import Catalog, workspace_book
from oggy.contract.routing import Router, RoutingTable


@dataclass(frozen=True, slots=True)
class WorkspaceOutput:
    workspace: CompiledWorkspace
    keys: Mapping[str, CompiledKey]
    identity: WorkspaceIdentity
    warnings: tuple[CompileWarning, ...]


def compile_workspace(
    parts: WorkspaceParts, catalog: Catalog, replay_cache: ReplayCache
) -> WorkspaceOutput:
    """Raises ConfigError naming the resource at fault."""
    name = parts.name
    if not parts.declared:
        raise ConfigError(f"{parts.first_child}: workspace {name} is not in the snapshot")
    for declared in parts.declared:
        refs.workspace(declared)
    if len(parts.declared) > 1:
        raise ConfigError(f"workspace {name} appears twice")
    warnings: list[CompileWarning] = []
    check_actors(name, parts.actors, warnings)
    existing = {a.name for a in parts.actors} | {k.key.name for k in parts.keys}
    policies = WorkspacePolicies(name, parts.policies, existing, warnings)
    identity = compile_identity(name, parts.actors, parts.signing_keys, policies, replay_cache)
    providers = compile_providers(name, parts.providers, warnings)
    routes = compile_routes(name, parts.routes, {p.name: p for p in providers}, warnings)
    routers = {
        family: Router.build([(p.models, p) for p in providers if p.family == family])
        for family in (OPENAI_FAMILY, ANTHROPIC_FAMILY)
    }
    workspace = CompiledWorkspace(
        name=name,
        providers=providers,
        router=routers[OPENAI_FAMILY],
        models=_listed(providers, routes),
        routing=RoutingTable(routes, routers, _family_of),
        prices=workspace_book(catalog, name, parts.prices, ConfigError),
        quota=compile_quota_rules(name, parts.limits, parts.budgets),
    )
    keys = compile_keys(workspace, parts.keys, identity, policies)
    return WorkspaceOutput(workspace, keys, identity, tuple(warnings))


def _listed(
    providers: tuple[CompiledProvider, ...], routes: Routes
) -> tuple[tuple[str, CompiledProvider], ...]:
    """Concrete model names and route aliases with their first provider, for /v1/models."""
    listed: dict[str, CompiledProvider] = {}
    for p in providers:
        for m in p.models:
            if not is_glob(m):
                listed.setdefault(m, p)
    for alias, targets in routes.items():
        if targets:
            listed[alias] = targets[0].provider
    return tuple(sorted(listed.items(), key=lambda item: item[0]))


def _family_of(p: CompiledProvider) -> str:
    return p.family
