"""compile_snapshot: the indexes it builds, and one case per way a snapshot can be invalid."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from oggy.contract.compile import ConfigError, compile_snapshot
from oggy.contract.key_text import hash_secret
from oggy.contract.policy import Allow, Deny
from oggy.v1 import actor_pb2, key_pb2, policy_pb2, provider_pb2, snapshot_pb2, workspace_pb2

W = "workspaces/w1"
PK = provider_pb2.ProviderCredential


def snapshot() -> snapshot_pb2.Snapshot:
    return snapshot_pb2.Snapshot(
        revision=42,
        workspaces=[workspace_pb2.Workspace(name=W), workspace_pb2.Workspace(name="workspaces/w2")],
        actors=[
            actor_pb2.Actor(name=f"{W}/actors/team-a", kind=actor_pb2.Actor.KIND_TEAM),
            actor_pb2.Actor(name=f"{W}/actors/bob", teams=[f"{W}/actors/team-a"]),
            actor_pb2.Actor(name=f"{W}/actors/gone", disabled=True),
        ],
        keys=[
            snapshot_pb2.KeyMaterial(
                key=key_pb2.GatewayKey(
                    name=f"{W}/keys/kbob",
                    actor=f"{W}/actors/bob",
                    state=key_pb2.GatewayKey.STATE_ACTIVE,
                    environment="live",
                    expire_time=Timestamp(seconds=2_000_000_000, nanos=500_000_000),
                ),
                secret_sha256=hash_secret("s"),
            ),
            snapshot_pb2.KeyMaterial(
                key=key_pb2.GatewayKey(
                    name=f"{W}/keys/kws", state=key_pb2.GatewayKey.STATE_REVOKED
                ),
                secret_sha256=hash_secret("t"),
            ),
            snapshot_pb2.KeyMaterial(
                key=key_pb2.GatewayKey(name=f"{W}/keys/kgone", actor=f"{W}/actors/gone"),
                secret_sha256=hash_secret("u"),
            ),
        ],
        providers=[
            snapshot_pb2.ProviderMaterial(
                provider=PK(
                    name=f"{W}/providers/openai",
                    kind=PK.KIND_OPENAI,
                    base_url="https://api.openai.com/v1/",
                    models=["gpt-4o", "gpt-4o-mini", "o*"],
                ),
                api_key="sk-live-1234",
            ),
            snapshot_pb2.ProviderMaterial(
                provider=PK(
                    name=f"{W}/providers/local",
                    kind=PK.KIND_OPENAI_COMPATIBLE,
                    base_url="http://127.0.0.1:8000/v1",
                    models=["llama-3", "gpt-4o"],
                ),
            ),
            snapshot_pb2.ProviderMaterial(
                provider=PK(
                    name=f"{W}/providers/claude",
                    kind=PK.KIND_ANTHROPIC,
                    base_url="https://api.anthropic.com",
                    models=["claude-*"],
                ),
                api_key="sk-ant",
            ),
        ],
        policies=[
            policy_pb2.Policy(name=f"{W}/policies/ws", target=W, denied_models=["*-mini"]),
            policy_pb2.Policy(
                name=f"{W}/policies/team", target=f"{W}/actors/team-a", allowed_models=["gpt-*"]
            ),
            policy_pb2.Policy(
                name=f"{W}/policies/dangling", target=f"{W}/keys/deleted", allowed_models=["x"]
            ),
        ],
    )


def test_compiles_indexes() -> None:
    cfg = compile_snapshot(snapshot())
    assert cfg.revision == 42
    assert set(cfg.keys_by_id) == {"kbob", "kws", "kgone"}
    bob = cfg.keys_by_id["kbob"]
    assert (bob.name, bob.workspace_name, bob.actor, bob.environment) == (
        f"{W}/keys/kbob",
        W,
        f"{W}/actors/bob",
        "live",
    )
    assert bob.expire_s == 2_000_000_000.5 and not bob.revoked
    assert cfg.keys_by_id["kws"].revoked and cfg.keys_by_id["kws"].expire_s is None
    assert cfg.keys_by_id["kgone"].actor_disabled
    # bob: workspace deny *-mini, team allow gpt-* (most restrictive wins).
    assert isinstance(bob.policy.check_model("gpt-4o"), Allow)
    assert isinstance(bob.policy.check_model("gpt-4o-mini"), Deny)
    assert isinstance(bob.policy.check_model("llama-3"), Deny)
    # A workspace key gets only the workspace policy.
    kws = cfg.keys_by_id["kws"]
    assert isinstance(kws.policy.check_model("llama-3"), Allow)
    # Keys with the same applying policies share one compiled policy (and its cache).
    assert kws.policy is cfg.keys_by_id["kgone"].policy

    ws = cfg.workspaces[W]
    local, openai_ = ws.router.route("llama-3"), ws.router.route("gpt-4o-mini")
    assert local is not None and local.name == f"{W}/providers/local"
    assert openai_ is not None and openai_.name == f"{W}/providers/openai"
    # Both serve gpt-4o exactly: the first by resource name wins, stably.
    assert ws.router.route("gpt-4o") is local
    assert str(openai_.chat_url) == "https://api.openai.com/v1/chat/completions"
    assert openai_.authorization == "Bearer sk-live-1234" and local.authorization is None
    assert ws.router.route("o1-preview") is openai_
    assert ws.router.route("claude-3") is None  # kind not routed yet
    assert [m for m, _ in ws.models] == ["gpt-4o", "gpt-4o-mini", "llama-3"]
    assert any("claude" in w for w in cfg.warnings)
    assert cfg.workspaces["workspaces/w2"].models == ()
    assert "sk-live-1234" not in repr(openai_) and "sk-live" not in repr(bob)


def test_empty_snapshot() -> None:
    cfg = compile_snapshot(snapshot_pb2.Snapshot(revision=1))
    assert cfg.keys_by_id == {} and cfg.workspaces == {}


def _provider(s: snapshot_pb2.Snapshot) -> PK:
    return s.providers[0].provider


INVALID: dict[str, Callable[[snapshot_pb2.Snapshot], object]] = {
    "bad workspace name": lambda s: s.workspaces.add(name="ws/x"),
    "duplicate workspace": lambda s: s.workspaces.add(name=W),
    "key in unknown workspace": lambda s: s.keys.add(
        key=key_pb2.GatewayKey(name="workspaces/nope/keys/k9"), secret_sha256=hash_secret("x")
    ),
    "bad key name": lambda s: s.keys.add(
        key=key_pb2.GatewayKey(name=f"{W}/actors/k9"), secret_sha256=hash_secret("x")
    ),
    "key id reused across workspaces": lambda s: s.keys.add(
        key=key_pb2.GatewayKey(name="workspaces/w2/keys/kbob"), secret_sha256=hash_secret("x")
    ),
    "short secret hash": lambda s: s.keys.add(
        key=key_pb2.GatewayKey(name=f"{W}/keys/k9"), secret_sha256=b"abc"
    ),
    "key bound to missing actor": lambda s: s.keys.add(
        key=key_pb2.GatewayKey(name=f"{W}/keys/k9", actor=f"{W}/actors/nobody"),
        secret_sha256=hash_secret("x"),
    ),
    "key bound to other workspace's actor": lambda s: s.keys.add(
        key=key_pb2.GatewayKey(name=f"{W}/keys/k9", actor="workspaces/w2/actors/bob"),
        secret_sha256=hash_secret("x"),
    ),
    "actor team in another workspace": lambda s: s.actors.add(
        name=f"{W}/actors/eve", teams=["workspaces/w2/actors/t"]
    ),
    "unparseable base url": lambda s: setattr(_provider(s), "base_url", "http://[::1"),
    "base url without scheme": lambda s: setattr(_provider(s), "base_url", "api.openai.com/v1"),
    "base url ftp": lambda s: setattr(_provider(s), "base_url", "ftp://host/v1"),
    "base url with credentials": lambda s: setattr(_provider(s), "base_url", "https://u:p@h/v1"),
    "base url with query": lambda s: setattr(_provider(s), "base_url", "https://h/v1?x=1"),
    "base url bad port": lambda s: setattr(_provider(s), "base_url", "http://h:99999/v1"),
    "empty base url": lambda s: setattr(_provider(s), "base_url", ""),
    "provider bad glob": lambda s: _provider(s).models.append("gpt 4"),
    "provider key with newline": lambda s: setattr(s.providers[0], "api_key", "sk\r\nX-Evil: 1"),
    "duplicate provider": lambda s: s.providers.add().CopyFrom(s.providers[0]),
    "policy bad glob": lambda s: s.policies.add(
        name=f"{W}/policies/bad", target=W, allowed_models=["gpt-[4"]
    ),
    "unused policy bad cidr": lambda s: s.policies.add(
        name=f"{W}/policies/bad", target=f"{W}/keys/deleted", allowed_cidrs=["10.0.0.0/40"]
    ),
    "policy target in other workspace": lambda s: s.policies.add(
        name=f"{W}/policies/x", target="workspaces/w2"
    ),
    "policy target not a resource": lambda s: s.policies.add(
        name=f"{W}/policies/x", target=f"{W}/providers/openai"
    ),
    "negative revision": lambda s: setattr(s, "revision", -1),
}


@pytest.mark.parametrize("mutate", INVALID.values(), ids=INVALID.keys())
def test_invalid_snapshots_are_rejected(mutate: Callable[[snapshot_pb2.Snapshot], object]) -> None:
    s = snapshot()
    mutate(s)
    with pytest.raises(ConfigError) as exc:
        compile_snapshot(s)
    assert "sk-live-1234" not in str(exc.value)
