"""Each workspace compiles on its own: lenient compiles hold back only the workspace at
fault, names follow the one grammar, warnings say which resource and why."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from oggy.actor_token import mint_actor_token
from oggy.contract.compile import (
    CompileWarning,
    ConfigError,
    LenientCompile,
    compile_snapshot,
    compile_snapshot_lenient,
)
from oggy.contract.identity import ReplayCaches
from oggy.v1 import (
    key_pb2,
    provider_pb2,
    route_pb2,
    signing_key_pb2,
    snapshot_pb2,
    workspace_pb2,
)
from tests.support.identity_snapshot import HS, WS, actor, identity_snapshot

OTHER = "workspaces/other"
SK = signing_key_pb2.SigningKey
Mutate = Callable[[snapshot_pb2.Snapshot], object]


def _snapshot() -> snapshot_pb2.Snapshot:
    s = identity_snapshot()
    s.keys.add(key=key_pb2.GatewayKey(name=f"{OTHER}/keys/kother"), secret_sha256=b"\x01" * 32)
    return s


def _compile(s: snapshot_pb2.Snapshot) -> LenientCompile:
    return compile_snapshot_lenient(s, replay_caches=ReplayCaches())


def test_a_kid_the_admin_api_accepts_compiles_and_verifies() -> None:
    # The admin API takes kids `[A-Za-z0-9._-]{1,64}`; the compiler once wanted a
    # resource id (`[a-z][a-z0-9-]*`), so every data plane NACKed such a key.
    s = _snapshot()
    s.signing_keys.add(
        signing_key=SK(name=f"{WS}/signingKeys/App_1.v2", algorithm=SK.ALGORITHM_HS256),
        hmac_secret=HS,
    )
    cfg = compile_snapshot(s, replay_caches=ReplayCaches())
    token = mint_actor_token(HS, kid="App_1.v2", workspace=WS, subject=actor("bob"), now=1000)
    who, _ = cfg.identities[WS].verify(token, 1001, replay_protection=False)
    assert who.name == actor("bob")


@pytest.mark.parametrize("kid", ["app/1", "..", "a" * 65, "k$y"])
def test_a_kid_outside_the_grammar_is_refused(kid: str) -> None:
    s = _snapshot()
    s.signing_keys.add(
        signing_key=SK(name=f"{WS}/signingKeys/{kid}", algorithm=SK.ALGORITHM_HS256),
        hmac_secret=HS,
    )
    with pytest.raises(ConfigError, match="signing key name must be"):
        compile_snapshot(s, replay_caches=ReplayCaches())
    assert set(_compile(s).errors) == {WS}


BREAK_ACME: dict[str, Mutate] = {
    "bad policy glob": lambda s: s.policies.add(
        name=f"{WS}/policies/bad", target=WS, allowed_models=["gpt-[4"]
    ),
    "bad base url": lambda s: setattr(s.providers[0].provider, "base_url", "ftp://h"),
    "duplicate key": lambda s: s.keys.add().CopyFrom(s.keys[0]),
    "bad actor name": lambda s: s.actors.add(name=f"{WS}/actors/Bad"),
    "key of a missing workspace": lambda s: s.keys.add(
        key=key_pb2.GatewayKey(name="workspaces/gone/keys/k1"), secret_sha256=b"\x01" * 32
    ),
    "duplicate workspace": lambda s: s.workspaces.add(name=WS),
    "price override of a bad kind": lambda s: s.prices.add(
        name=f"{WS}/prices/p", provider="bedrock", model="m"
    ),
}


@pytest.mark.parametrize("mutate", BREAK_ACME.values(), ids=BREAK_ACME.keys())
def test_a_bad_workspace_is_held_back_and_the_others_serve(mutate: Mutate) -> None:
    s = _snapshot()
    mutate(s)
    with pytest.raises(ConfigError) as strict:
        compile_snapshot(s, replay_caches=ReplayCaches())
    cfg, errors = _compile(s)
    [(held_back, error)] = errors.items()
    assert str(error) == str(strict.value)
    assert OTHER in cfg.workspaces and "kother" in cfg.keys_by_id
    if held_back == WS:  # a resource of a missing workspace fails only that workspace
        assert WS not in cfg.workspaces and WS not in cfg.identities
        assert not any(k.workspace_name == WS for k in cfg.keys_by_id.values())
    else:
        assert held_back == "workspaces/gone" and WS in cfg.workspaces


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: setattr(s, "revision", -1),
        lambda s: s.prices.add(name="prices/p", provider="bedrock", model="m"),
        lambda s: s.keys.add(key=key_pb2.GatewayKey(name="k1"), secret_sha256=b"\x01" * 32),
        lambda s: s.workspaces.add(name="acme"),
    ],
    ids=["negative revision", "bad catalog price", "key in no workspace", "bad workspace"],
)
def test_problems_of_no_single_workspace_refuse_the_snapshot(mutate: Mutate) -> None:
    s = _snapshot()
    mutate(s)
    with pytest.raises(ConfigError):
        _compile(s)


def test_a_key_id_in_two_workspaces_holds_back_both() -> None:
    s = _snapshot()
    s.workspaces.add(name="workspaces/third")
    s.keys.add(key=key_pb2.GatewayKey(name=f"{OTHER}/keys/kws"), secret_sha256=b"\x02" * 32)
    cfg, errors = _compile(s)
    assert set(errors) == {WS, OTHER}
    assert "key id 'kws' is used by both" in str(errors[WS])
    assert list(cfg.workspaces) == ["workspaces/third"] and not cfg.keys_by_id
    with pytest.raises(ConfigError, match="kws"):
        compile_snapshot(s, replay_caches=ReplayCaches())


def test_a_held_back_workspace_keeps_its_replay_cache() -> None:
    caches = ReplayCaches()
    s = _snapshot()
    compile_snapshot_lenient(s, replay_caches=caches)
    seen = caches.get(WS)
    BREAK_ACME["bad base url"](s)
    assert WS in compile_snapshot_lenient(s, replay_caches=caches).errors
    assert caches.get(WS) is seen


def test_warnings_name_the_resource_and_the_reason() -> None:
    s = snapshot_pb2.Snapshot(revision=1, workspaces=[workspace_pb2.Workspace(name=WS)])
    s.providers.add(
        provider=provider_pb2.ProviderCredential(
            name=f"{WS}/providers/future", kind=99, base_url="https://h", models=["m"]
        )
    )
    s.providers.add(
        provider=provider_pb2.ProviderCredential(
            name=f"{WS}/providers/p", base_url="https://h", models=["m"]
        )
    )
    for route_id in ("a", "b"):
        s.routes.add(
            name=f"{WS}/routes/{route_id}",
            model="fast",
            targets=[
                route_pb2.RouteTarget(provider=f"{WS}/providers/gone"),
                route_pb2.RouteTarget(provider=f"{WS}/providers/p"),
            ],
        )
    s.policies.add(name=f"{WS}/policies/x", target=f"{WS}/keys/deleted")
    s.actors.add(name=actor("eve"), teams=[actor("gone-team")])
    cfg = compile_snapshot(s, replay_caches=ReplayCaches())
    assert cfg.compile_warnings == (
        CompileWarning(f"{WS}/actors/eve", f"team {WS}/actors/gone-team is not in the snapshot"),
        CompileWarning(f"{WS}/policies/x", f"target {WS}/keys/deleted is not in the snapshot"),
        CompileWarning(f"{WS}/providers/future", "kind 99 is unknown; not routed"),
        CompileWarning(f"{WS}/routes/a", f"provider {WS}/providers/gone is not served"),
        CompileWarning(f"{WS}/routes/b", f"provider {WS}/providers/gone is not served"),
        CompileWarning(f"{WS}/routes/b", "model 'fast' is already routed; ignored"),
    )
    assert cfg.warnings[0] == f"{WS}/actors/eve: team {WS}/actors/gone-team is not in the snapshot"


def test_catalog_prices_price_every_workspace_and_overrides_only_their_own() -> None:
    s = _snapshot()
    s.prices.add(name="prices/p", provider="openai", model="gpt-4o", input_per_mtok=5)
    s.prices.add(name=f"{WS}/prices/p", provider="openai", model="gpt-4o", input_per_mtok=1)
    cfg = compile_snapshot(s, replay_caches=ReplayCaches())
    acme, other = cfg.workspaces[WS].prices, cfg.workspaces[OTHER].prices
    assert other.version.startswith("c-") and acme.version.startswith(other.version + "+w-")


@pytest.mark.parametrize(
    "base_url",
    [
        "ftp://user:sk-SECRET-1234@h",  # credentials and a bad scheme: refused, never quoted
        "https://h/v1?api_key=sk-SECRET-1234",
        "https://h:99999/?key=sk-SECRET-1234",
    ],
)
def test_a_refused_base_url_is_never_quoted(base_url: str) -> None:
    s = _snapshot()
    s.providers[0].provider.base_url = base_url
    with pytest.raises(ConfigError) as refused:
        compile_snapshot(s, replay_caches=ReplayCaches())
    assert "base_url" in str(refused.value) and "SECRET" not in str(refused.value)
