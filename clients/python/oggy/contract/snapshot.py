"""Pure snapshot logic: resource names → ResourceChange, delta application, consistency.

No I/O here: the publisher feeds decoded store items in and gets protos out, so
everything that decides *what* a data plane sees is testable without etcd or an
event loop. Snapshots are treated as immutable values: every function returns a
new message and never mutates its inputs.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from oggy.contract.names import PRICES, classify
from oggy.v1 import snapshot_pb2

# What snapshots mean (Snapshot.schema_version). Raise it when a data plane that
# ignored a new field would serve wrongly (say, a new kind of deny rule), so older
# data planes reject the snapshot instead of silently serving less than was meant.
SCHEMA_VERSION = 2  # 2: limits and budgets (a data plane ignoring them would not enforce)


class Kind(Enum):
    WORKSPACE = "workspace"
    KEY = "keys"
    ACTOR = "actors"
    PROVIDER = "providers"
    POLICY = "policies"
    SIGNING_KEY = "signingKeys"
    ROUTE = "routes"
    PRICE = "prices"
    LIMIT = "limits"
    BUDGET = "budgets"


@dataclass(frozen=True, slots=True)
class ParsedName:
    kind: Kind
    workspace: str  # `workspaces/{w}`; "" for catalog-wide prices (`prices/{p}`)


class DeltaError(ValueError):
    """A delta cannot be applied to a snapshot (wrong base revision, bad change)."""


class SchemaVersionError(ValueError):
    """A snapshot or delta is newer than this code understands."""


def check_schema_version(version: int) -> None:
    """Raise SchemaVersionError for a schema version newer than SCHEMA_VERSION
    (0, from a control plane older than the field, is accepted)."""
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"config schema version {version} is newer than this data plane understands "
            f"({SCHEMA_VERSION}); upgrade the data plane"
        )


def parse_name(name: str) -> ParsedName | None:
    """Classify a resource name; None for names the snapshot does not carry."""
    ref = classify(name)
    if ref is None:
        return None
    kind = Kind.WORKSPACE if ref.collection is None else Kind(ref.collection.value)
    return ParsedName(kind=kind, workspace=ref.workspace)


def change_kind(change: snapshot_pb2.ResourceChange) -> Kind | None:
    """Which resource kind a change upserts; None for a delete."""
    which = change.WhichOneof("change")
    return {
        "workspace": Kind.WORKSPACE,
        "key": Kind.KEY,
        "actor": Kind.ACTOR,
        "provider": Kind.PROVIDER,
        "policy": Kind.POLICY,
        "signing_key": Kind.SIGNING_KEY,
        "route": Kind.ROUTE,
        "price": Kind.PRICE,
        "limit": Kind.LIMIT,
        "budget": Kind.BUDGET,
    }.get(which or "")


def name_of(resource: object) -> str:
    """The resource name of anything a snapshot holds."""
    # KeyMaterial / ProviderMaterial wrap the public resource; the rest carry `name`.
    if isinstance(resource, snapshot_pb2.KeyMaterial):
        return resource.key.name
    if isinstance(resource, snapshot_pb2.ProviderMaterial):
        return resource.provider.name
    if isinstance(resource, snapshot_pb2.SigningKeyMaterial):
        return resource.signing_key.name
    return resource.name  # type: ignore[attr-defined,no-any-return]


# Snapshot field that holds each kind, and the ResourceChange oneof field for it.
_FIELDS: dict[Kind, tuple[str, str]] = {
    Kind.WORKSPACE: ("workspaces", "workspace"),
    Kind.KEY: ("keys", "key"),
    Kind.ACTOR: ("actors", "actor"),
    Kind.PROVIDER: ("providers", "provider"),
    Kind.POLICY: ("policies", "policy"),
    Kind.SIGNING_KEY: ("signing_keys", "signing_key"),
    Kind.ROUTE: ("routes", "route"),
    Kind.PRICE: ("prices", "price"),
    Kind.LIMIT: ("limits", "limit"),
    Kind.BUDGET: ("budgets", "budget"),
}


# Each resource message's kind, by full proto name.
_KIND_OF = {
    snapshot_pb2.Snapshot.DESCRIPTOR.fields_by_name[field].message_type.full_name: kind
    for kind, (field, _) in _FIELDS.items()
}


def _index(snapshot: snapshot_pb2.Snapshot) -> dict[Kind, dict[str, object]]:
    return {
        kind: {name_of(r): r for r in getattr(snapshot, field)}
        for kind, (field, _) in _FIELDS.items()
    }


def _build(revision: int, index: dict[Kind, dict[str, object]]) -> snapshot_pb2.Snapshot:
    snap = snapshot_pb2.Snapshot(revision=revision, schema_version=SCHEMA_VERSION)
    for kind, (field, _) in _FIELDS.items():
        # Sorted by name so equal states serialize identically (stable golden tests,
        # cheap equality checks on the data plane).
        getattr(snap, field).extend(index[kind][n] for n in sorted(index[kind]))
    return snap


def apply_delta(
    snapshot: snapshot_pb2.Snapshot, delta: snapshot_pb2.SnapshotDelta
) -> snapshot_pb2.Snapshot:
    """The snapshot after `delta` (inputs untouched); raises DeltaError when it does not fit.

    Changes apply in order: an upsert replaces the resource of that name or adds it; a
    delete removes it and is a no-op when it is already gone (deltas may be replayed
    after a resync).
    """
    if delta.base_revision != snapshot.revision:
        raise DeltaError(
            f"delta base revision {delta.base_revision} != snapshot revision {snapshot.revision}"
        )
    if delta.revision <= delta.base_revision:
        raise DeltaError(
            f"delta revision {delta.revision} does not move past {delta.base_revision}"
        )
    index = _index(snapshot)
    for i, change in enumerate(delta.changes):
        if not change.name:
            raise DeltaError(f"change {i} has no resource name")
        parsed = parse_name(change.name)
        if parsed is None:
            raise DeltaError(f"unknown resource name {change.name!r}")
        which = change.WhichOneof("change")
        if which is None:
            raise DeltaError(f"change {i} ({change.name}) carries neither a resource nor a delete")
        if which == "deleted":
            if not change.deleted:
                raise DeltaError(f"change {i} ({change.name}) has deleted=false")
            index[parsed.kind].pop(change.name, None)
            continue
        if change_kind(change) is not parsed.kind:
            raise DeltaError(f"{change.name!r} cannot carry a {which}")
        resource = getattr(change, which)
        if name_of(resource) != change.name:
            raise DeltaError(
                f"change {i}: name {change.name!r} != resource name {name_of(resource)!r}"
            )
        index[parsed.kind][change.name] = resource
    return _build(delta.revision, index)


def check_consistency(snapshot: snapshot_pb2.Snapshot) -> list[str]:
    """Problems that make a snapshot unfit to publish; empty when consistent.

    Every resource but a catalog price (`prices/{p}`) must belong to a workspace
    present in the same snapshot, every route target's provider must be present,
    and names must be unique.
    """
    problems: list[str] = []
    workspaces: set[str] = set()
    for ws in snapshot.workspaces:
        if ws.name in workspaces:
            problems.append(f"duplicate workspace {ws.name}")
        workspaces.add(ws.name)
        parsed = parse_name(ws.name)
        if parsed is None or parsed.kind is not Kind.WORKSPACE:
            problems.append(f"bad workspace name {ws.name!r}")
    for kind, (field, _) in _FIELDS.items():
        if kind is Kind.WORKSPACE:
            continue
        seen: set[str] = set()
        for resource in getattr(snapshot, field):
            name = name_of(resource)
            if name in seen:
                problems.append(f"duplicate {kind.value} {name}")
            seen.add(name)
            parsed = parse_name(name)
            if parsed is None or parsed.kind is not kind:
                problems.append(f"bad {kind.value} name {name!r}")
            elif parsed.workspace and parsed.workspace not in workspaces:
                problems.append(f"{name} belongs to missing {parsed.workspace}")
    providers = {m.provider.name for m in snapshot.providers}
    for route in snapshot.routes:
        missing = [t.provider for t in route.targets if t.provider not in providers]
        if missing:
            problems.append(f"{route.name} routes to missing {missing[0]}")
    return problems


def prune_orphans(snapshot: snapshot_pb2.Snapshot) -> snapshot_pb2.Snapshot:
    """A copy without resources whose workspace is missing or whose name is malformed,
    and without routes to a missing provider.

    Used to publish *something* coherent while the store is transiently
    inconsistent (e.g. between the deletes of a non-atomic cascade).
    """
    index = _index(snapshot)
    workspaces = {
        n for n in index[Kind.WORKSPACE] if (p := parse_name(n)) and p.kind is Kind.WORKSPACE
    }
    index[Kind.WORKSPACE] = {n: index[Kind.WORKSPACE][n] for n in workspaces}
    for kind in _FIELDS:
        if kind is Kind.WORKSPACE:
            continue
        index[kind] = {
            n: r
            for n, r in index[kind].items()
            if (p := parse_name(n))
            and p.kind is kind
            and (p.workspace in workspaces or (kind is Kind.PRICE and not p.workspace))
        }
    # A route is only servable with all of its providers.
    providers = set(index[Kind.PROVIDER])
    index[Kind.ROUTE] = {
        n: r
        for n, r in index[Kind.ROUTE].items()
        if all(t.provider in providers for t in r.targets)  # type: ignore[attr-defined]
    }
    return _build(snapshot.revision, index)


def _kind_of(resource: object) -> Kind:
    """The kind a resource message is (by its type: cheaper than parsing its name)."""
    kind = _KIND_OF.get(resource.DESCRIPTOR.full_name)  # type: ignore[attr-defined]
    if kind is None:
        raise DeltaError(f"a {type(resource).__name__} is not a snapshot resource")
    return kind


def make_change(name: str, resource: object | None) -> snapshot_pb2.ResourceChange:
    """ResourceChange for an upsert of `resource`, or a delete when it is None.

    That the name fits the resource is checked where the change is applied
    (`apply_delta`), so a change is not parsed twice.
    """
    if resource is None:
        return snapshot_pb2.ResourceChange(name=name, deleted=True)
    _, oneof = _FIELDS[_kind_of(resource)]
    change = snapshot_pb2.ResourceChange(name=name)
    getattr(change, oneof).CopyFrom(resource)
    return change


def build_snapshot(revision: int, resources: Iterable[object]) -> snapshot_pb2.Snapshot:
    """A snapshot holding `resources` (Workspace, KeyMaterial, Actor, ...), each in the
    field of its type. Names are not parsed again: they come from the store through
    `parse_name`, or from another snapshot; compiling the snapshot checks them."""
    index: dict[Kind, dict[str, object]] = {kind: {} for kind in _FIELDS}
    for resource in resources:
        index[_kind_of(resource)][name_of(resource)] = resource
    return _build(revision, index)


def workspace_of(name: str) -> str:
    """The workspace a resource of a snapshot belongs to: `workspaces/{w}` for the workspace
    and its children, "" for a catalog-wide price. String work only (it runs for every
    resource on every change): names in a snapshot built here already passed `parse_name`."""
    if name.startswith(f"{PRICES}/"):
        return ""
    return "/".join(name.split("/", 2)[:2])


def resources_by_workspace(
    snapshot: snapshot_pb2.Snapshot, workspaces: Collection[str] | None = None
) -> dict[str, list[object]]:
    """The resources of `snapshot` (of `workspaces` only, if given), grouped by
    `workspace_of`."""
    groups: dict[str, list[object]] = {}
    for field, _ in _FIELDS.values():
        for resource in getattr(snapshot, field):
            workspace = workspace_of(name_of(resource))
            if workspaces is None or workspace in workspaces:
                groups.setdefault(workspace, []).append(resource)
    return groups


def changes_between(
    before: Mapping[str, object], after: Mapping[str, object]
) -> list[snapshot_pb2.ResourceChange]:
    """The changes that turn resources `before` into `after` (both by name), in name order:
    an upsert for each resource added or different, a delete for each one gone."""
    changes = {name: make_change(name, None) for name in before.keys() - after.keys()}
    for name, resource in after.items():
        if before.get(name) != resource:
            changes[name] = make_change(name, resource)
    return [changes[name] for name in sorted(changes)]


def diff(
    old: snapshot_pb2.Snapshot, new: snapshot_pb2.Snapshot
) -> list[snapshot_pb2.ResourceChange]:
    """The changes that turn `old` into `new`, in name order."""
    before, after = _index(old), _index(new)
    changes = [c for kind in _FIELDS for c in changes_between(before[kind], after[kind])]
    return sorted(changes, key=lambda c: c.name)


def make_delta(
    base_revision: int, revision: int, changes: Sequence[snapshot_pb2.ResourceChange]
) -> snapshot_pb2.SnapshotDelta:
    return snapshot_pb2.SnapshotDelta(
        base_revision=base_revision,
        revision=revision,
        changes=list(changes),
        schema_version=SCHEMA_VERSION,
    )
