"""HoldBack: a workspace whose config does not compile is published at its last good state
(or left out), and every other workspace's changes go out as usual."""

from __future__ import annotations

from controlplane.publisher.holdback import CATALOG, HeldWorkspace, HoldBack, compile_error
from oggy.contract.compile import compile_snapshot
from oggy.contract.snapshot import apply_delta, build_snapshot, make_delta
from oggy.v1 import key_pb2, policy_pb2, price_pb2, snapshot_pb2, workspace_pb2

A, B = "workspaces/a", "workspaces/b"
BAD_GLOB = "gpt-[4"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ws(name: str) -> workspace_pb2.Workspace:
    return workspace_pb2.Workspace(name=name)


def key(workspace: str, key_id: str, revoked: bool = False) -> snapshot_pb2.KeyMaterial:
    state = key_pb2.GatewayKey.STATE_REVOKED if revoked else key_pb2.GatewayKey.STATE_ACTIVE
    return snapshot_pb2.KeyMaterial(
        key=key_pb2.GatewayKey(name=f"{workspace}/keys/{key_id}", state=state),
        secret_sha256=b"\x01" * 32,
    )


def policy(workspace: str, *models: str) -> policy_pb2.Policy:
    return policy_pb2.Policy(
        name=f"{workspace}/policies/p", target=workspace, allowed_models=list(models)
    )


def price(name: str, provider: str = "openai") -> price_pb2.ModelPrice:
    return price_pb2.ModelPrice(name=name, provider=provider, model="gpt-4o", input_per_mtok=1)


class Admit:
    """HoldBack.admit, checking that the changes it returns lead from the snapshot it
    returned before to the new one (the publisher sends them as a delta)."""

    def __init__(self, hold: HoldBack) -> None:
        self.hold = hold
        self.last = build_snapshot(0, [])

    def __call__(
        self, truth: snapshot_pb2.Snapshot, groups: set[str] | None = None
    ) -> snapshot_pb2.Snapshot:
        out, changes = self.hold.admit(truth, groups)
        if changes:
            delta = make_delta(self.last.revision, truth.revision, changes)
            assert apply_delta(self.last, delta) == out
        else:
            assert out == self.last
        self.last = out
        return out


def names(snapshot: snapshot_pb2.Snapshot) -> list[str]:
    found = [w.name for w in snapshot.workspaces]
    found += [k.key.name for k in snapshot.keys]
    found += [p.name for p in snapshot.policies]
    found += [p.name for p in snapshot.prices]
    return sorted(found)


def test_everything_that_compiles_is_published_as_stored() -> None:
    truth = build_snapshot(5, [ws(A), key(A, "ka"), policy(A, "gpt-4o*"), ws(B), key(B, "kb")])
    hold = HoldBack()
    admit = Admit(hold)
    assert admit(truth) == truth
    assert hold.held() == []


def test_a_workspace_that_never_compiled_is_left_out_and_reported() -> None:
    clock = Clock()
    hold = HoldBack(clock=clock)
    admit = Admit(hold)
    published = admit(build_snapshot(5, [ws(A), policy(A, BAD_GLOB), ws(B), key(B, "kb")]))
    assert names(published) == [B, f"{B}/keys/kb"]
    [held] = hold.held()
    assert held == HeldWorkspace(A, 0, 5, held.error, 1000.0)
    assert BAD_GLOB in held.error
    compile_snapshot(published)  # what is published compiles


def test_a_broken_workspace_keeps_its_last_good_state_while_others_move_on() -> None:
    clock = Clock()
    hold = HoldBack(clock=clock)
    admit = Admit(hold)
    admit(build_snapshot(5, [ws(A), key(A, "ka"), ws(B), key(B, "kb")]))

    # Revision 6 breaks A (and adds a key and a display name to it); B revokes a key at 7.
    clock.now = 1001.0
    broken = [
        workspace_pb2.Workspace(name=A, display_name="renamed"),
        key(A, "ka"),
        key(A, "new"),
        policy(A, "gpt=4o"),
    ]
    published = admit(build_snapshot(6, [*broken, ws(B), key(B, "kb")]), {A})
    assert published.revision == 5  # nothing published changed
    clock.now = 1002.0
    published = admit(build_snapshot(7, [*broken, ws(B), key(B, "kb", revoked=True)]), {B})
    by_name = {k.key.name: k.key.state for k in published.keys}
    assert by_name == {
        f"{A}/keys/ka": key_pb2.GatewayKey.STATE_ACTIVE,  # A is held at revision 5
        f"{B}/keys/kb": key_pb2.GatewayKey.STATE_REVOKED,  # B's revoke goes out
    }
    assert published.workspaces[0].display_name == ""
    [held] = hold.held()
    assert (held.workspace, held.held_revision, held.failed_revision) == (A, 5, 7)
    assert "gpt=4o" in held.error and held.since == 1001.0  # first held at revision 6

    # Repaired: A's current state goes out, the hold is lifted.
    repaired = admit(build_snapshot(8, [ws(A), key(A, "new"), ws(B), key(B, "kb")]), {A})
    assert {k.key.name for k in repaired.keys} == {f"{A}/keys/new", f"{B}/keys/kb"}
    assert hold.held() == []


def test_revoking_or_deleting_a_key_of_a_held_back_workspace_still_goes_out() -> None:
    hold = HoldBack()
    admit = Admit(hold)
    admit(build_snapshot(5, [ws(A), key(A, "ka"), key(A, "kb"), key(A, "kc")]))
    admit(build_snapshot(6, [ws(A), key(A, "ka"), key(A, "kb"), key(A, "kc"), policy(A, "x[")]))
    # While A is held: ka revoked, kb deleted; kc unchanged.
    published = admit(
        build_snapshot(7, [ws(A), key(A, "ka", revoked=True), key(A, "kc"), policy(A, "x[")]), {A}
    )
    assert {k.key.name: k.key.state for k in published.keys} == {
        f"{A}/keys/ka": key_pb2.GatewayKey.STATE_REVOKED,
        f"{A}/keys/kc": key_pb2.GatewayKey.STATE_ACTIVE,
    }
    assert not published.policies  # the rest of A stays at revision 5
    [held] = hold.held()
    assert (held.held_revision, held.failed_revision) == (5, 7)


def test_groups_not_named_keep_what_they_had() -> None:
    hold = HoldBack()
    admit = Admit(hold)
    admit(build_snapshot(5, [ws(A), ws(B)]))
    # A changed but only B is named: A's change waits for its own admission.
    published = admit(build_snapshot(6, [ws(A), key(A, "ka"), ws(B)]), {B})
    assert names(published) == [A, B]
    assert names(admit(build_snapshot(6, [ws(A), key(A, "ka"), ws(B)]), None)) == [
        A,
        f"{A}/keys/ka",
        B,
    ]


def test_a_bad_catalog_price_holds_back_only_the_catalog() -> None:
    hold = HoldBack()
    admit = Admit(hold)
    good = price("prices/p1")
    admit(build_snapshot(5, [good, ws(A)]))
    bad = price("prices/p2", provider="no-such-kind")
    published = admit(build_snapshot(6, [good, bad, ws(A), key(A, "ka")]), {CATALOG, A})
    assert names(published) == ["prices/p1", A, f"{A}/keys/ka"]
    [held] = hold.held()
    assert (held.workspace, held.held_revision) == ("prices", 5)
    assert "no-such-kind" in held.error


def test_key_ids_stay_unique_across_workspaces() -> None:
    hold = HoldBack()
    admit = Admit(hold)
    admit(build_snapshot(5, [ws(A), key(A, "same"), ws(B)]))
    published = admit(build_snapshot(6, [ws(A), key(A, "same"), ws(B), key(B, "same")]), {B})
    assert [k.key.name for k in published.keys] == [f"{A}/keys/same"]
    [held] = hold.held()
    assert held.workspace == B and f"already used in {A}" in held.error
    compile_snapshot(published)

    # A lets go of the id: B is tried again without being named, and fits.
    published = admit(build_snapshot(7, [ws(A), ws(B), key(B, "same")]), {A})
    assert [k.key.name for k in published.keys] == [f"{B}/keys/same"]
    assert hold.held() == []


def test_a_deleted_workspace_is_forgotten_with_its_hold() -> None:
    hold = HoldBack()
    admit = Admit(hold)
    admit(build_snapshot(5, [ws(A), policy(A, BAD_GLOB), ws(B)]))
    assert [h.workspace for h in hold.held()] == [A]
    # Its children are still stored (a non-atomic cascade): none is published.
    published = admit(build_snapshot(6, [policy(A, BAD_GLOB), ws(B)]), {A})
    assert names(published) == [B]
    assert hold.held() == []


def test_published_resources_are_copies() -> None:
    truth = build_snapshot(5, [ws(A), key(A, "ka")])
    hold = HoldBack()
    admit = Admit(hold)
    admit(truth)
    truth.keys[0].key.display_name = "mutated after admission"
    assert admit(build_snapshot(6, []), set()).keys[0].key.display_name == ""


def test_compile_error_is_the_compilers_message_and_none_when_fine() -> None:
    assert compile_error(build_snapshot(1, [ws(A)])) is None
    error = compile_error(build_snapshot(1, [ws(A), policy(A, BAD_GLOB)]))
    assert error is not None and "unclosed '['" in error
