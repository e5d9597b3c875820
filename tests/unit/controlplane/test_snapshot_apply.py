"""Pure snapshot logic: delta application, consistency check, pruning, name parsing."""

from __future__ import annotations

import pytest

from oggy.contract.snapshot import (
    DeltaError,
    Kind,
    apply_delta,
    build_snapshot,
    check_consistency,
    make_change,
    make_delta,
    parse_name,
    prune_orphans,
)
from oggy.v1 import (
    actor_pb2,
    key_pb2,
    policy_pb2,
    provider_pb2,
    snapshot_pb2,
    workspace_pb2,
)

W1 = "workspaces/w1"
W2 = "workspaces/w2"


def ws(name: str, display: str = "") -> workspace_pb2.Workspace:
    return workspace_pb2.Workspace(name=name, display_name=display)


def key(name: str, digest: bytes = b"h") -> snapshot_pb2.KeyMaterial:
    return snapshot_pb2.KeyMaterial(key=key_pb2.GatewayKey(name=name), secret_sha256=digest)


def actor(name: str) -> actor_pb2.Actor:
    return actor_pb2.Actor(name=name)


def provider(name: str, api_key: str = "sk-test") -> snapshot_pb2.ProviderMaterial:
    return snapshot_pb2.ProviderMaterial(
        provider=provider_pb2.ProviderCredential(name=name), api_key=api_key
    )


def policy(name: str, target: str = W1) -> policy_pb2.Policy:
    return policy_pb2.Policy(name=name, target=target)


def names(snapshot: snapshot_pb2.Snapshot) -> dict[str, list[str]]:
    return {
        "workspaces": [w.name for w in snapshot.workspaces],
        "keys": [k.key.name for k in snapshot.keys],
        "actors": [a.name for a in snapshot.actors],
        "providers": [p.provider.name for p in snapshot.providers],
        "policies": [p.name for p in snapshot.policies],
    }


BASE = build_snapshot(
    10,
    [
        ws(W1),
        key(f"{W1}/keys/k1"),
        actor(f"{W1}/actors/alice"),
        provider(f"{W1}/providers/openai"),
        policy(f"{W1}/policies/p1"),
    ],
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (W1, (Kind.WORKSPACE, W1)),
        (f"{W1}/keys/k1", (Kind.KEY, W1)),
        (f"{W1}/actors/a-b", (Kind.ACTOR, W1)),
        (f"{W1}/providers/p", (Kind.PROVIDER, W1)),
        (f"{W1}/policies/p", (Kind.POLICY, W1)),
        (f"{W1}/signing-keys/s", None),
        (f"{W1}/keys", None),
        ("workspaces/W1", None),
        ("secrets/workspaces/w1/providers/p", None),
        (f"{W1}/keys/k1/extra", None),
    ],
)
def test_parse_name(name: str, expected: tuple[Kind, str] | None) -> None:
    parsed = parse_name(name)
    assert (None if parsed is None else (parsed.kind, parsed.workspace)) == expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            [make_change(f"{W1}/keys/k2", key(f"{W1}/keys/k2"))],
            {"keys": [f"{W1}/keys/k1", f"{W1}/keys/k2"]},
            id="add-key",
        ),
        pytest.param(
            [make_change(f"{W1}/keys/k1", None)],
            {"keys": []},
            id="delete-key",
        ),
        pytest.param(
            [make_change(f"{W1}/keys/absent", None)],
            {},
            id="delete-absent-is-noop",
        ),
        pytest.param(
            [
                make_change(W2, ws(W2)),
                make_change(f"{W2}/actors/bob", actor(f"{W2}/actors/bob")),
            ],
            {"workspaces": [W1, W2], "actors": [f"{W1}/actors/alice", f"{W2}/actors/bob"]},
            id="new-workspace-with-actor",
        ),
        pytest.param(
            [
                make_change(f"{W1}/policies/p1", None),
                make_change(f"{W1}/policies/p1", policy(f"{W1}/policies/p1")),
            ],
            {},
            id="delete-then-recreate-in-one-batch",
        ),
        pytest.param(
            [make_change(f"{W1}/providers/openai", None)],
            {"providers": []},
            id="delete-provider",
        ),
    ],
)
def test_apply_delta(changes: list[snapshot_pb2.ResourceChange], expected: dict) -> None:
    result = apply_delta(BASE, make_delta(10, 11, changes))
    want = names(BASE) | expected
    assert result.revision == 11
    assert names(result) == want
    assert check_consistency(result) == []


def test_apply_delta_replaces_resource_content() -> None:
    updated = provider(f"{W1}/providers/openai", api_key="sk-rotated")
    result = apply_delta(BASE, make_delta(10, 12, [make_change(updated.provider.name, updated)]))
    assert [p.api_key for p in result.providers] == ["sk-rotated"]


def test_apply_delta_does_not_mutate_input() -> None:
    before = BASE.SerializeToString(deterministic=True)
    apply_delta(BASE, make_delta(10, 11, [make_change(W1, None)]))
    assert BASE.SerializeToString(deterministic=True) == before


def test_apply_delta_result_is_canonical() -> None:
    # The same state reached another way (built from resources in reverse order)
    # serializes identically, so data planes can compare snapshots cheaply.
    added = key(f"{W1}/keys/a")
    via_delta = apply_delta(BASE, make_delta(10, 11, [make_change(added.key.name, added)]))
    resources = [*BASE.workspaces, *BASE.keys, added, *BASE.actors, *BASE.providers]
    built = build_snapshot(11, [*reversed(resources), *BASE.policies])
    assert via_delta.SerializeToString(deterministic=True) == built.SerializeToString(
        deterministic=True
    )


@pytest.mark.parametrize(
    ("delta", "message"),
    [
        pytest.param(make_delta(9, 11, []), "base revision", id="wrong-base"),
        pytest.param(make_delta(10, 9, []), "does not move past", id="backwards"),
        pytest.param(
            make_delta(10, 11, [snapshot_pb2.ResourceChange(name=f"{W1}/keys/k9")]),
            "carries neither",
            id="empty-change",
        ),
        pytest.param(
            make_delta(
                10, 11, [snapshot_pb2.ResourceChange(name=f"{W1}/keys/k9", actor=actor("x"))]
            ),
            "cannot carry",
            id="wrong-oneof",
        ),
        pytest.param(
            make_delta(
                10,
                11,
                [snapshot_pb2.ResourceChange(name=f"{W1}/keys/k9", key=key(f"{W1}/keys/k8"))],
            ),
            "!= resource name",
            id="name-mismatch",
        ),
        pytest.param(
            make_delta(10, 11, [snapshot_pb2.ResourceChange(name="bogus", deleted=True)]),
            "unknown resource name",
            id="unknown-name",
        ),
    ],
)
def test_apply_delta_rejects(delta: snapshot_pb2.SnapshotDelta, message: str) -> None:
    with pytest.raises(DeltaError, match=message):
        apply_delta(BASE, delta)


@pytest.mark.parametrize(
    ("changes", "problems"),
    [
        pytest.param([], [], id="consistent"),
        pytest.param(
            [make_change(W1, None)],
            [
                f"{W1}/keys/k1 belongs to missing {W1}",
                f"{W1}/actors/alice belongs to missing {W1}",
                f"{W1}/providers/openai belongs to missing {W1}",
                f"{W1}/policies/p1 belongs to missing {W1}",
            ],
            id="workspace-deleted-children-remain",
        ),
        pytest.param(
            [make_change(f"{W2}/keys/k2", key(f"{W2}/keys/k2"))],
            [f"{W2}/keys/k2 belongs to missing {W2}"],
            id="key-before-its-workspace",
        ),
        pytest.param(
            [make_change(f"{W2}/policies/p", policy(f"{W2}/policies/p", target=W2))],
            [f"{W2}/policies/p belongs to missing {W2}"],
            id="orphan-policy",
        ),
    ],
)
def test_check_consistency(changes: list, problems: list[str]) -> None:
    snapshot = apply_delta(BASE, make_delta(10, 11, changes))
    assert check_consistency(snapshot) == problems


def test_check_consistency_flags_duplicates() -> None:
    snapshot = snapshot_pb2.Snapshot(
        revision=1, workspaces=[ws(W1), ws(W1)], keys=[key(f"{W1}/keys/a"), key(f"{W1}/keys/a")]
    )
    assert check_consistency(snapshot) == [
        f"duplicate workspace {W1}",
        f"duplicate {Kind.KEY.value} {W1}/keys/a",
    ]


def test_prune_orphans_drops_only_orphans() -> None:
    snapshot = apply_delta(
        BASE,
        make_delta(
            10,
            11,
            [
                make_change(f"{W2}/keys/k2", key(f"{W2}/keys/k2")),
                make_change(f"{W2}/actors/bob", actor(f"{W2}/actors/bob")),
            ],
        ),
    )
    pruned = prune_orphans(snapshot)
    assert names(pruned) == names(BASE)
    assert pruned.revision == 11
    assert check_consistency(pruned) == []


def test_make_change_picks_oneof_by_name() -> None:
    assert make_change(W1, ws(W1)).WhichOneof("change") == "workspace"
    assert make_change(f"{W1}/keys/k", key(f"{W1}/keys/k")).WhichOneof("change") == "key"
    assert make_change(f"{W1}/actors/a", actor(f"{W1}/actors/a")).WhichOneof("change") == "actor"
    assert (
        make_change(f"{W1}/providers/p", provider(f"{W1}/providers/p")).WhichOneof("change")
        == "provider"
    )
    assert (
        make_change(f"{W1}/policies/p", policy(f"{W1}/policies/p")).WhichOneof("change") == "policy"
    )
    assert make_change(W1, None).deleted is True
