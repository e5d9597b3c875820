"""A data plane keeps a workspace that stops compiling at its last good version, and
every other workspace's updates go on (oggy.contract.compile.last_good)."""

from __future__ import annotations

import pytest

from dataplane.config.last_good import LastGoodCompiler
from oggy.contract.compile import ConfigError
from oggy.contract.compile.last_good import compile_keeping_last_good
from oggy.contract.identity import ReplayCaches
from oggy.v1 import key_pb2, snapshot_pb2
from tests.support.identity_snapshot import WS, identity_snapshot

OTHER = "workspaces/other"


def snapshot(revision: int, *, other_keys: tuple[str, ...] = ("kother",)) -> snapshot_pb2.Snapshot:
    s = identity_snapshot()
    s.revision = revision
    for key_id in other_keys:
        s.keys.add(
            key=key_pb2.GatewayKey(name=f"{OTHER}/keys/{key_id}"), secret_sha256=b"\x01" * 32
        )
    return s


def broken(s: snapshot_pb2.Snapshot) -> snapshot_pb2.Snapshot:
    s.policies.add(name=f"{WS}/policies/bad", target=WS, allowed_models=["gpt-[4"])
    return s


def test_a_snapshot_that_compiles_is_served_as_it_is() -> None:
    s = snapshot(5)
    served = compile_keeping_last_good(s, None, replay_caches=ReplayCaches())
    assert served.snapshot is s and served.config.revision == 5
    assert not any("does not compile" in w for w in served.config.warnings)


def test_a_failing_workspace_keeps_its_last_good_version_and_others_move_on() -> None:
    good = compile_keeping_last_good(snapshot(5), None, replay_caches=ReplayCaches())
    # Revision 6 breaks WS and, in the same update, revokes nothing but adds a key in OTHER.
    update = broken(snapshot(6, other_keys=("kother", "knew")))
    served = compile_keeping_last_good(update, good.snapshot, replay_caches=ReplayCaches())
    cfg = served.config
    assert cfg.revision == 6 and "knew" in cfg.keys_by_id  # OTHER moved on
    assert WS in cfg.workspaces  # WS still serves what it had at revision 5
    assert {k.name for k in cfg.keys_by_id.values() if k.workspace_name == WS} == {
        m.key.name for m in good.snapshot.keys if m.key.name.startswith(WS + "/")
    }
    [hold] = [w for w in cfg.warnings if "does not compile" in w]
    assert hold.startswith(f"{WS}: does not compile at revision 6, still serving its last good")
    assert "gpt-[4" in hold
    assert not any(p.name == f"{WS}/policies/bad" for p in served.snapshot.policies)


def test_a_workspace_that_never_compiled_is_not_served() -> None:
    served = compile_keeping_last_good(broken(snapshot(5)), None, replay_caches=ReplayCaches())
    assert WS not in served.config.workspaces and "kother" in served.config.keys_by_id
    assert any(w.startswith(f"{WS}: does not compile at revision 5, not served") for w in
               served.config.warnings)  # fmt: skip


def test_a_problem_of_no_single_workspace_is_still_refused() -> None:
    s = snapshot(5)
    s.revision = -1
    with pytest.raises(ConfigError):
        compile_keeping_last_good(s, None, replay_caches=ReplayCaches())


def test_the_data_plane_compiler_remembers_what_it_served() -> None:
    compile_fn = LastGoodCompiler()
    compile_fn(snapshot(5))
    cfg = compile_fn(broken(snapshot(6)))
    assert WS in cfg.workspaces and cfg.revision == 6
    # Fixed at revision 7: the hold is lifted.
    cfg = compile_fn(snapshot(7))
    assert not any("does not compile" in w for w in cfg.warnings)
