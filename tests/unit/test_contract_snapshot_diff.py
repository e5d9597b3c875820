"""oggy.contract.snapshot: the schema version, grouping by workspace, and `diff`, whose
delta turns one snapshot into another exactly (the publisher sends nothing else)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oggy.contract.snapshot import (
    SCHEMA_VERSION,
    DeltaError,
    SchemaVersionError,
    apply_delta,
    build_snapshot,
    check_schema_version,
    diff,
    make_change,
    make_delta,
    resources_by_workspace,
)
from oggy.v1 import actor_pb2, key_pb2, price_pb2, snapshot_pb2, workspace_pb2


def test_built_snapshots_and_deltas_carry_the_schema_version() -> None:
    assert build_snapshot(3, []).schema_version == SCHEMA_VERSION
    assert make_delta(3, 4, []).schema_version == SCHEMA_VERSION


@pytest.mark.parametrize("version", [0, 1, SCHEMA_VERSION])
def test_current_and_older_schema_versions_are_accepted(version: int) -> None:
    check_schema_version(version)


def test_newer_schema_version_is_refused_with_a_reason() -> None:
    with pytest.raises(SchemaVersionError, match=rf"version {SCHEMA_VERSION + 1} is newer"):
        check_schema_version(SCHEMA_VERSION + 1)


def test_resources_by_workspace() -> None:
    snap = build_snapshot(
        5,
        [
            workspace_pb2.Workspace(name="workspaces/a"),
            actor_pb2.Actor(name="workspaces/a/actors/x"),
            actor_pb2.Actor(name="workspaces/b/actors/y"),  # an orphan still has a group
            price_pb2.ModelPrice(name="prices/p1"),
            price_pb2.ModelPrice(name="workspaces/a/prices/p2"),
        ],
    )
    groups = {ws: sorted(r.name for r in rs) for ws, rs in resources_by_workspace(snap).items()}
    assert groups == {
        "workspaces/a": ["workspaces/a", "workspaces/a/actors/x", "workspaces/a/prices/p2"],
        "workspaces/b": ["workspaces/b/actors/y"],
        "": ["prices/p1"],
    }

    only_b = resources_by_workspace(snap, {"workspaces/b"})
    assert {ws: [r.name for r in rs] for ws, rs in only_b.items()} == {
        "workspaces/b": ["workspaces/b/actors/y"]
    }


def test_a_message_that_is_no_snapshot_resource_is_refused() -> None:
    with pytest.raises(DeltaError, match="not a snapshot resource"):
        make_change("workspaces/a", snapshot_pb2.ResourceChange())
    with pytest.raises(DeltaError, match="not a snapshot resource"):
        build_snapshot(1, [snapshot_pb2.Snapshot()])


def test_diff_lists_upserts_and_deletes_in_name_order() -> None:
    old = build_snapshot(
        1,
        [
            workspace_pb2.Workspace(name="workspaces/a"),
            actor_pb2.Actor(name="workspaces/a/actors/gone"),
            actor_pb2.Actor(name="workspaces/a/actors/same"),
            actor_pb2.Actor(name="workspaces/a/actors/changed", display_name="old"),
        ],
    )
    new = build_snapshot(
        2,
        [
            workspace_pb2.Workspace(name="workspaces/a"),
            actor_pb2.Actor(name="workspaces/a/actors/same"),
            actor_pb2.Actor(name="workspaces/a/actors/changed", display_name="new"),
            actor_pb2.Actor(name="workspaces/a/actors/added"),
        ],
    )
    changes = diff(old, new)
    assert [(c.name, c.WhichOneof("change")) for c in changes] == [
        ("workspaces/a/actors/added", "actor"),
        ("workspaces/a/actors/changed", "actor"),
        ("workspaces/a/actors/gone", "deleted"),
    ]
    assert diff(new, new) == []


_IDS = st.sampled_from(["a", "b", "c"])
_NAMES = st.sampled_from(["x", "y"])


@st.composite
def snapshots(draw: st.DrawFn, revision: int) -> snapshot_pb2.Snapshot:
    resources: list[object] = []
    for ws in draw(st.sets(_IDS)):
        name = f"workspaces/{ws}"
        resources.append(workspace_pb2.Workspace(name=name, display_name=draw(_NAMES)))
        for a in draw(st.sets(_IDS)):
            resources.append(actor_pb2.Actor(name=f"{name}/actors/{a}", display_name=draw(_NAMES)))
        for k in draw(st.sets(_IDS)):
            state = draw(st.sampled_from([1, 2]))
            key = key_pb2.GatewayKey(name=f"{name}/keys/{ws}{k}", state=state)
            resources.append(snapshot_pb2.KeyMaterial(key=key, secret_sha256=b"\1" * 32))
    for p in draw(st.sets(_IDS)):
        resources.append(price_pb2.ModelPrice(name=f"prices/{p}", model=draw(_NAMES)))
    return build_snapshot(revision, resources)


@given(snapshots(1), snapshots(2))
def test_the_delta_of_a_diff_turns_old_into_new(
    old: snapshot_pb2.Snapshot, new: snapshot_pb2.Snapshot
) -> None:
    delta = make_delta(old.revision, new.revision, diff(old, new))
    assert apply_delta(old, delta) == new
