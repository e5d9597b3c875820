import pytest

from oggy.contract.snapshot import DeltaError, apply_delta
from oggy.v1 import (
    actor_pb2,
    key_pb2,
    policy_pb2,
    provider_pb2,
    snapshot_pb2,
    workspace_pb2,
)

W = "workspaces/w1"
K = f"{W}/keys/k1"
P = f"{W}/providers/openai"


def base() -> snapshot_pb2.Snapshot:
    return snapshot_pb2.Snapshot(
        revision=10,
        workspaces=[workspace_pb2.Workspace(name=W, display_name="one")],
        keys=[snapshot_pb2.KeyMaterial(key=key_pb2.GatewayKey(name=K), secret_sha256=b"h")],
        actors=[actor_pb2.Actor(name=f"{W}/actors/a1"), actor_pb2.Actor(name=f"{W}/actors/a2")],
        providers=[
            snapshot_pb2.ProviderMaterial(
                provider=provider_pb2.ProviderCredential(name=P), api_key="sk-old"
            )
        ],
        policies=[policy_pb2.Policy(name=f"{W}/policies/p1")],
    )


def delta(*changes: snapshot_pb2.ResourceChange, base_revision=10, revision=11):
    return snapshot_pb2.SnapshotDelta(
        base_revision=base_revision, revision=revision, changes=list(changes)
    )


def test_upsert_replaces_and_keeps_name_order() -> None:
    s = base()
    out = apply_delta(
        s,
        delta(
            snapshot_pb2.ResourceChange(
                name=f"{W}/actors/a1",
                actor=actor_pb2.Actor(name=f"{W}/actors/a1", display_name="new"),
            )
        ),
    )
    assert out.revision == 11
    assert [a.name for a in out.actors] == [f"{W}/actors/a1", f"{W}/actors/a2"]  # by name
    assert out.actors[0].display_name == "new"
    assert s.actors[0].display_name == ""  # input untouched
    assert s.revision == 10


def test_upsert_new_resource_is_added() -> None:
    name = f"{W}/keys/k2"
    out = apply_delta(
        base(),
        delta(
            snapshot_pb2.ResourceChange(
                name=name, key=snapshot_pb2.KeyMaterial(key=key_pb2.GatewayKey(name=name))
            )
        ),
    )
    assert [k.key.name for k in out.keys] == [K, name]


def test_provider_upsert_carries_new_secret() -> None:
    out = apply_delta(
        base(),
        delta(
            snapshot_pb2.ResourceChange(
                name=P,
                provider=snapshot_pb2.ProviderMaterial(
                    provider=provider_pb2.ProviderCredential(name=P), api_key="sk-new"
                ),
            )
        ),
    )
    assert [p.api_key for p in out.providers] == ["sk-new"]


def test_delete_removes_and_is_idempotent() -> None:
    out = apply_delta(
        base(),
        delta(
            snapshot_pb2.ResourceChange(name=K, deleted=True),
            snapshot_pb2.ResourceChange(name=f"{W}/keys/gone", deleted=True),
        ),
    )
    assert list(out.keys) == []
    assert len(out.actors) == 2


def test_changes_apply_in_order() -> None:
    name = f"{W}/policies/p2"
    out = apply_delta(
        base(),
        delta(
            snapshot_pb2.ResourceChange(name=name, policy=policy_pb2.Policy(name=name)),
            snapshot_pb2.ResourceChange(name=name, deleted=True),
        ),
    )
    assert [p.name for p in out.policies] == [f"{W}/policies/p1"]


@pytest.mark.parametrize(
    ("d", "match"),
    [
        (delta(base_revision=9, revision=11), "base revision 9"),
        (delta(base_revision=10, revision=10), "does not move past"),
        (delta(snapshot_pb2.ResourceChange(name=K)), "neither"),
        (delta(snapshot_pb2.ResourceChange(name="", deleted=True)), "no resource name"),
        (delta(snapshot_pb2.ResourceChange(name=K, deleted=False)), "deleted=false"),
        (
            delta(
                snapshot_pb2.ResourceChange(
                    name=f"{W}/actors/a1", actor=actor_pb2.Actor(name=f"{W}/actors/other")
                )
            ),
            "!= resource name",
        ),
    ],
    ids=["stale-base", "no-progress", "empty-change", "no-name", "deleted-false", "name-mismatch"],
)
def test_rejected_deltas(d: snapshot_pb2.SnapshotDelta, match: str) -> None:
    with pytest.raises(DeltaError, match=match):
        apply_delta(base(), d)


def test_every_resource_kind_in_the_contract_can_be_applied() -> None:
    # A kind added to ResourceChange but not to apply_delta would NACK every
    # delta that carries it; keep the two in step.
    from oggy.contract.snapshot import _FIELDS

    oneof = snapshot_pb2.ResourceChange.DESCRIPTOR.oneofs_by_name["change"]
    kinds = {field.name for field in oneof.fields} - {"deleted"}
    assert kinds == {change_field for _, change_field in _FIELDS.values()}
