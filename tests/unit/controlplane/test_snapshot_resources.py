"""Pure snapshot logic for signing keys, routes and prices."""

from __future__ import annotations

from controlplane.publisher.decode import decode_resource
from oggy.contract.snapshot import (
    Kind,
    apply_delta,
    build_snapshot,
    check_consistency,
    make_change,
    make_delta,
    parse_name,
    prune_orphans,
)
from oggy.v1 import price_pb2, provider_pb2, route_pb2, signing_key_pb2, snapshot_pb2
from oggy.v1 import workspace_pb2 as ws_pb

W = "workspaces/w"


def test_parse_new_names() -> None:
    assert parse_name("prices/p1") == parse_name("prices/p1")
    assert parse_name("prices/p1").kind is Kind.PRICE and parse_name("prices/p1").workspace == ""
    assert parse_name(f"{W}/prices/p").kind is Kind.PRICE
    assert parse_name(f"{W}/routes/r").kind is Kind.ROUTE
    kid = parse_name(f"{W}/signingKeys/Key.V2_x-1")
    assert kid is not None and kid.kind is Kind.SIGNING_KEY and kid.workspace == W
    for skipped in ("secrets/workspaces/w/providers/p", "audit/0190", "index/keys/k", "prices/"):
        assert parse_name(skipped) is None
    assert parse_name(f"{W}/signingKeys/..") is None


def test_decode_strips_hmac_secret_and_sets_etag() -> None:
    stored = signing_key_pb2.SigningKey(name="x", hmac_secret="leak", algorithm=3)
    decoded = decode_resource(f"{W}/signingKeys/k", stored.SerializeToString(), 42)
    assert (
        decoded.name == f"{W}/signingKeys/k" and decoded.hmac_secret == "" and decoded.etag == "42"
    )


def _provider(name: str) -> snapshot_pb2.ProviderMaterial:
    return snapshot_pb2.ProviderMaterial(provider=provider_pb2.ProviderCredential(name=name))


def test_build_apply_and_prune() -> None:
    route = route_pb2.Route(
        name=f"{W}/routes/r",
        model="m",
        targets=[route_pb2.RouteTarget(provider=f"{W}/providers/p")],
    )
    snap = build_snapshot(
        5,
        [
            ws_pb.Workspace(name=W),
            _provider(f"{W}/providers/p"),
            route,
            price_pb2.ModelPrice(name="prices/c"),
            price_pb2.ModelPrice(name=f"{W}/prices/o"),
            snapshot_pb2.SigningKeyMaterial(
                signing_key=signing_key_pb2.SigningKey(name=f"{W}/signingKeys/k"), hmac_secret=b"s"
            ),
        ],
    )
    assert check_consistency(snap) == []
    assert [p.name for p in snap.prices] == ["prices/c", f"{W}/prices/o"]
    delta = make_delta(
        5,
        6,
        [
            make_change(f"{W}/providers/p", None),
            make_change("prices/d", price_pb2.ModelPrice(name="prices/d")),
        ],
    )
    after = apply_delta(snap, delta)
    assert check_consistency(after) == [f"{W}/routes/r routes to missing {W}/providers/p"]
    pruned = prune_orphans(after)
    assert not pruned.routes and {p.name for p in pruned.prices} == {
        "prices/c",
        "prices/d",
        f"{W}/prices/o",
    }
    # Without the workspace: its override and key go, catalog prices stay.
    gone = prune_orphans(apply_delta(after, make_delta(6, 7, [make_change(W, None)])))
    assert [p.name for p in gone.prices] == ["prices/c", "prices/d"] and not gone.signing_keys
