"""A snapshot split by owner: the catalog prices, and each workspace's own resources.

Every resource but a catalog price (`prices/{p}`) belongs to the workspace its
name places it under, so each workspace can be compiled on its own and one
workspace's bad resource is that workspace's error only. Names are only read
here to attribute them; each workspace's compile checks them against the
grammar. A resource whose name places it under no workspace at all is not any
workspace's problem: the snapshot as a whole is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from oggy.contract.compile import refs
from oggy.contract.compile.model import ConfigError
from oggy.contract.names import claimed_workspace
from oggy.v1 import (
    actor_pb2,
    budget_pb2,
    limit_pb2,
    policy_pb2,
    price_pb2,
    route_pb2,
    snapshot_pb2,
)


@dataclass(slots=True)
class WorkspaceParts:
    """One workspace's resources, in snapshot order."""

    name: str
    # Names of the Workspace entries placed here (exactly [name] when all is well).
    declared: list[str] = field(default_factory=list)
    keys: list[snapshot_pb2.KeyMaterial] = field(default_factory=list)
    actors: list[actor_pb2.Actor] = field(default_factory=list)
    providers: list[snapshot_pb2.ProviderMaterial] = field(default_factory=list)
    policies: list[policy_pb2.Policy] = field(default_factory=list)
    signing_keys: list[snapshot_pb2.SigningKeyMaterial] = field(default_factory=list)
    routes: list[route_pb2.Route] = field(default_factory=list)
    prices: list[price_pb2.ModelPrice] = field(default_factory=list)
    limits: list[limit_pb2.Limit] = field(default_factory=list)
    budgets: list[budget_pb2.Budget] = field(default_factory=list)
    # The first name seen under it (a child's when the workspace itself is absent),
    # to name in "workspace ... is not in the snapshot".
    first_child: str = ""


@dataclass(frozen=True, slots=True)
class Partition:
    catalog: tuple[price_pb2.ModelPrice, ...]
    # By workspace name, sorted; includes workspaces only named by their children.
    workspaces: dict[str, WorkspaceParts]


def partition(snapshot: snapshot_pb2.Snapshot) -> Partition:
    """Raises ConfigError for a resource whose name places it under no workspace."""
    parts: dict[str, WorkspaceParts] = {}

    def owner(name: str, what: str) -> WorkspaceParts:
        ws = claimed_workspace(name)
        if ws is None:
            if what == "workspace":
                refs.workspace(name)  # raises, with the grammar's message
            raise ConfigError(f"{what} name {name!r} is not in a workspace")
        found = parts.get(ws)
        if found is None:
            found = parts[ws] = WorkspaceParts(ws, first_child=name)
        return found

    for w in snapshot.workspaces:
        # `workspaces/a/b` claims `workspaces/a`: refused when that workspace compiles.
        owner(w.name, "workspace").declared.append(w.name)
    for k in snapshot.keys:
        owner(k.key.name, "key").keys.append(k)
    for a in snapshot.actors:
        owner(a.name, "actor").actors.append(a)
    for p in snapshot.providers:
        owner(p.provider.name, "provider").providers.append(p)
    for pol in snapshot.policies:
        owner(pol.name, "policy").policies.append(pol)
    for s in snapshot.signing_keys:
        owner(s.signing_key.name, "signing key").signing_keys.append(s)
    for r in snapshot.routes:
        owner(r.name, "route").routes.append(r)
    for lim in snapshot.limits:
        owner(lim.name, "limit").limits.append(lim)
    for b in snapshot.budgets:
        owner(b.name, "budget").budgets.append(b)
    catalog = []
    for price in snapshot.prices:
        if claimed_workspace(price.name) is None:
            catalog.append(price)  # `prices/{p}`, or a bad name the catalog refuses
        else:
            owner(price.name, "price").prices.append(price)
    return Partition(tuple(catalog), {w: parts[w] for w in sorted(parts)})
