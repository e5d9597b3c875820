"""Apply a SnapshotDelta to a Snapshot: pure, no I/O, the input is never mutated."""

from __future__ import annotations

from oggy.v1 import snapshot_pb2


class DeltaError(Exception):
    """The delta does not fit the snapshot it would be applied to."""


# ResourceChange oneof field → (Snapshot repeated field, resource name of an item).
_KINDS = {
    "workspace": ("workspaces", lambda m: m.name),
    "key": ("keys", lambda m: m.key.name),
    "actor": ("actors", lambda m: m.name),
    "provider": ("providers", lambda m: m.provider.name),
    "policy": ("policies", lambda m: m.name),
    "signing_key": ("signing_keys", lambda m: m.signing_key.name),
    "route": ("routes", lambda m: m.name),
    "price": ("prices", lambda m: m.name),
}


def apply_delta(
    snapshot: snapshot_pb2.Snapshot, delta: snapshot_pb2.SnapshotDelta
) -> snapshot_pb2.Snapshot:
    """Return a new Snapshot at `delta.revision`; raise DeltaError if it does not apply.

    Changes are applied in order: an upsert replaces the resource with the same
    name (keeping its position) or appends it; a delete removes the named
    resource wherever it is and is a no-op if it is already gone.
    """
    if delta.base_revision != snapshot.revision:
        raise DeltaError(
            f"delta base revision {delta.base_revision} != serving revision {snapshot.revision}"
        )
    if delta.revision <= delta.base_revision:
        raise DeltaError(
            f"delta revision {delta.revision} does not move past {delta.base_revision}"
        )

    # Name → item per kind; dicts keep insertion order so untouched resources stay put.
    tables = {
        field: {name_of(item): item for item in getattr(snapshot, field)}
        for field, name_of in _KINDS.values()
    }
    for i, change in enumerate(delta.changes):
        if not change.name:
            raise DeltaError(f"change {i} has no resource name")
        kind = change.WhichOneof("change")
        if kind is None:
            raise DeltaError(f"change {i} ({change.name}) carries neither a resource nor a delete")
        if kind == "deleted":
            if not change.deleted:
                raise DeltaError(f"change {i} ({change.name}) has deleted=false")
            for table in tables.values():
                table.pop(change.name, None)
            continue
        if kind not in _KINDS:
            raise DeltaError(f"change {i} ({change.name}) has an unknown kind {kind!r}")
        field, name_of = _KINDS[kind]
        resource = getattr(change, kind)
        if name_of(resource) != change.name:
            raise DeltaError(
                f"change {i}: name {change.name!r} != resource name {name_of(resource)!r}"
            )
        tables[field][change.name] = resource

    out = snapshot_pb2.Snapshot(revision=delta.revision)
    for field, table in tables.items():
        getattr(out, field).extend(table.values())
    return out
