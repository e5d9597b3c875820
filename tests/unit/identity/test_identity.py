"""Who pays: actor tokens resolved against a compiled snapshot, every refusal reason, labels."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import jwt as pyjwt
import pytest

from oggy.actor_token import mint_actor_token
from oggy.contract import errors
from oggy.contract.compile import CompiledConfig, ConfigError, compile_snapshot
from oggy.contract.compile.policies import WorkspacePolicies
from oggy.contract.identity import (
    MAX_LABELS,
    NOBODY,
    Attribution,
    ReplayCaches,
    check_caller,
    parse_labels,
    parse_workflow,
    resolve,
)
from oggy.contract.prompt_logging import PromptLogging
from oggy.v1 import policy_pb2, signing_key_pb2, snapshot_pb2
from tests.support.identity_snapshot import ED, ES, HS, WS, actor, identity_snapshot

NOW = 1_800_000_000.0
ALICE = actor("alice")


def compiled(snapshot: snapshot_pb2.Snapshot | None = None) -> CompiledConfig:
    return compile_snapshot(snapshot or identity_snapshot(), replay_caches=ReplayCaches())


CFG = compiled()


def who(key_id: str, token: str | None, cfg: CompiledConfig = CFG, now: float = NOW):
    key = cfg.keys_by_id[key_id]
    return resolve(key.identity, key.bound_actor, key.policy, token, now)


def mint(key: object = ED, kid: str = "ed", subject: str = ALICE, **kw: object) -> str:
    kw.setdefault("now", NOW)
    return mint_actor_token(key, kid=kid, workspace=WS, subject=subject, **kw)  # type: ignore[arg-type]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict, claims: dict, signature: bytes = b"x" * 64) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{b64(signature)}"


GOOD = {"sub": ALICE, "aud": WS, "exp": int(NOW) + 60}


def hs(claims: dict, kid: str = "hs") -> str:
    return pyjwt.encode(claims, HS, algorithm="HS256", headers={"kid": kid})


# ------------------------------------------------------------------ who pays


def test_no_token_workspace_key_is_nobody_and_bound_key_is_its_actor() -> None:
    assert who("kws", None) is NOBODY
    assert who("kalice", None) == Attribution(actor=ALICE, team=actor("ml"))


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (mint(), Attribution(actor=ALICE, team=actor("ml"))),
        (mint(ES, "es"), Attribution(actor=ALICE, team=actor("ml"))),
        (mint(HS, "hs"), Attribution(actor=ALICE, team=actor("ml"))),
        # sub by bare id; a team actor with no team is its own team.
        (mint(subject="alice"), Attribution(actor=ALICE, team=actor("ml"))),
        (mint(subject="bob"), Attribution(actor=actor("bob"))),
        (mint(subject="ml"), Attribution(actor=actor("ml"), team=actor("ml"))),
        # On a workspace key the signed claims are the identity: all apply; a team claim
        # naming a team actor (by id) is recorded as its resource name.
        (
            mint(subject="bob", team="ops", app="etl", env="prod", workflow="nightly"),
            Attribution(actor("bob"), actor("ops"), "etl", "prod", "nightly"),
        ),
        (mint(subject="bob", team="data-science"), Attribution(actor("bob"), "data-science")),
        # aud may be the bare workspace id; PyJWT-minted tokens verify.
        (hs({**GOOD, "aud": "acme"}), Attribution(actor=ALICE, team=actor("ml"))),
        (hs({**GOOD, "aud": ["x", WS]}), Attribution(actor=ALICE, team=actor("ml"))),
    ],
)
def test_workspace_key_with_token(token: str, expected: Attribution) -> None:
    assert who("kws", token) == expected


def test_bound_key_token_may_not_change_attributes_without_overrides() -> None:
    token = mint(team="ops", app="etl", workflow="nightly")
    assert who("kalice", token) == Attribution(actor=ALICE, team=actor("ml"))


def test_bound_key_overrides_apply_only_as_far_as_policy_allows() -> None:
    token = mint(team="ops", app="etl", env="prod", workflow="nightly")
    # kover's policy allows team and workflow, not app or env.
    assert who("kover", token) == Attribution(actor=ALICE, team=actor("ops"), workflow="nightly")


def test_bound_key_token_naming_another_actor_is_refused() -> None:
    with pytest.raises(errors.ActorTokenInvalid) as info:
        who("kover", mint(subject="bob", team="ops"))
    assert info.value.reason == "actor_mismatch"
    assert info.value.status == 401 and info.value.code == "actor_token_invalid"


def test_claim_values_are_bounded() -> None:
    got = who("kws", mint(subject="bob", app="a" * 2000))
    assert len(got.app) == 256


# ------------------------------------------------------------------ refusals

BAD_TOKENS = [
    (forge({"alg": "none", "kid": "ed"}, GOOD, b""), "alg_not_allowed"),
    (forge({"alg": "RS256", "kid": "ed"}, GOOD), "alg_not_allowed"),
    (forge({"alg": "EdDSA", "kid": "nope"}, GOOD), "unknown_kid"),
    (forge({"alg": "HS256", "kid": "ed"}, GOOD), "alg_mismatch"),
    (forge({"alg": "EdDSA", "kid": "ed"}, GOOD), "bad_signature"),
    (mint(ES, "ed"), "alg_mismatch"),  # ES256 token claiming the EdDSA key
    (hs({**GOOD, "exp": int(NOW) - 31}), "expired"),
    (hs({**GOOD, "nbf": int(NOW) + 31}), "not_yet_valid"),
    (hs({**GOOD, "iat": int(NOW) + 31}), "not_yet_valid"),
    (hs({**GOOD, "aud": "workspaces/other"}), "wrong_audience"),
    (hs({**GOOD, "aud": "other"}), "wrong_audience"),
    (hs({"sub": ALICE, "exp": int(NOW) + 60}), "wrong_audience"),
    ("x" * 5000, "too_large"),
    ("not-a-jwt", "malformed"),
    ("a.b.c", "malformed"),
    ("", "malformed"),
    (hs({**GOOD, "exp": "soon"}), "malformed"),
    (hs({"sub": ALICE, "aud": WS}), "missing_claim"),
    (hs({"aud": WS, "exp": int(NOW) + 60}), "missing_claim"),
    (hs({**GOOD, "sub": "nobody"}), "unknown_actor"),
    (hs({**GOOD, "sub": "workspaces/other/actors/mallory"}), "unknown_actor"),
    (hs({**GOOD, "sub": actor("carol")}), "actor_disabled"),
]


@pytest.mark.parametrize(("token", "reason"), BAD_TOKENS)
def test_bad_tokens_are_refused_with_a_reason(token: str, reason: str) -> None:
    with pytest.raises(errors.ActorTokenInvalid) as info:
        who("kws", token)
    err = info.value
    assert (err.status, err.code, err.reason) == (401, "actor_token_invalid", reason)
    assert reason in err.message
    if len(token) > 20:
        assert token not in err.message and token[-20:] not in err.message


def test_token_from_another_workspace_signing_key_is_refused() -> None:
    # Same kid, other key material: the signature does not verify.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    with pytest.raises(errors.ActorTokenInvalid, match="bad_signature"):
        who("kws", mint(Ed25519PrivateKey.generate(), "ed"))


def test_workspace_without_signing_keys_refuses_every_token() -> None:
    snap = identity_snapshot()
    del snap.signing_keys[:]
    with pytest.raises(errors.ActorTokenInvalid, match="unknown_kid"):
        who("kws", mint(), compiled(snap))


def test_replay_protection_requires_single_use_jti() -> None:
    cfg = compiled()
    token = mint(HS, "hs")
    assert who("kreplay", token, cfg).actor == ALICE
    with pytest.raises(errors.ActorTokenInvalid, match="replayed"):
        who("kreplay", token, cfg)
    # Without a jti the token is refused outright.
    with pytest.raises(errors.ActorTokenInvalid, match="missing_claim"):
        who("kreplay", mint(HS, "hs", jti=False), cfg)
    # The same token on a key without replay protection is fine (memoised).
    assert who("kws", token, cfg).actor == ALICE
    assert who("kws", token, cfg).actor == ALICE


def test_replay_cache_outlives_a_config_change() -> None:
    caches = ReplayCaches()
    token = mint(HS, "hs")
    first = compile_snapshot(identity_snapshot(), replay_caches=caches)
    who("kreplay", token, first)
    second = compile_snapshot(identity_snapshot(), replay_caches=caches)
    with pytest.raises(errors.ActorTokenInvalid, match="replayed"):
        who("kreplay", token, second)


def test_a_removed_signing_key_stops_verifying_even_if_memoised() -> None:
    cfg = compiled()
    token = mint()
    assert who("kws", token, cfg).actor == ALICE
    snap = identity_snapshot()
    kept = [m for m in snap.signing_keys if not m.signing_key.name.endswith("/ed")]
    del snap.signing_keys[:]
    snap.signing_keys.extend(kept)
    with pytest.raises(errors.ActorTokenInvalid, match="unknown_kid"):
        who("kws", token, compiled(snap))


def test_a_disabled_actor_is_refused_even_with_a_memoised_token() -> None:
    token = mint(subject="bob")
    cfg = compiled()
    assert who("kws", token, cfg).actor == actor("bob")
    snap = identity_snapshot()
    for a in snap.actors:
        if a.name == actor("bob"):
            a.disabled = True
    with pytest.raises(errors.ActorTokenInvalid, match="actor_disabled"):
        who("kws", token, compiled(snap))


# ------------------------------------------------------------------ caller checks


@dataclass
class Caller:
    """A request's record of its caller (CallerRecord)."""

    client_ip: str = ""
    who: Attribution = NOBODY
    shadow_reason: str = ""

    def set_attribution(self, who: Attribution) -> None:
        self.who = who

    def shadow(self, reason: str) -> None:
        self.shadow_reason = self.shadow_reason or reason


def check(key_id: str, token: str | None, peer: str, xff: str | None = None):
    rec = Caller()
    try:
        key = check_caller(CFG.keys_by_id[key_id], rec, peer, xff, token, NOW)
    except errors.GatewayError as e:
        return rec, e
    return rec, key


ERIN = actor("erin")


@pytest.mark.parametrize(
    ("key_id", "subject", "xff", "client", "allowed"),
    [
        # erin's policy trusts the loopback proxy and allows only 10/8: the address
        # is read through the proxy her policy trusts, not taken from the socket.
        ("kws", "erin", "10.1.2.3", "10.1.2.3", True),
        ("kws", "erin", "203.0.113.7, 10.1.2.3", "10.1.2.3", True),
        ("kws", "erin", "8.8.8.8", "8.8.8.8", False),
        ("kws", "erin", None, "127.0.0.1", False),
        # The key's own allowlist (10/8, proxies 192.168/16) is checked with the
        # merged proxies too, not first against the bare socket address.
        ("kcidr", "erin", "10.1.2.3", "10.1.2.3", True),
        # Nobody else's requests believe that proxy.
        ("kws", "alice", "10.1.2.3", "127.0.0.1", True),
        ("kws", None, "10.1.2.3", "127.0.0.1", True),
        ("kcidr", None, "10.1.2.3", "127.0.0.1", False),
    ],
)
def test_client_address_is_read_with_the_gating_policys_trusted_proxies(
    key_id: str, subject: str | None, xff: str | None, client: str, allowed: bool
) -> None:
    token = mint(subject=subject) if subject else None
    rec, outcome = check(key_id, token, "127.0.0.1", xff)
    assert rec.client_ip == client
    if allowed:
        assert not isinstance(outcome, errors.GatewayError)
    else:
        assert isinstance(outcome, errors.ClientIpNotAllowed)
    assert rec.who.actor == (actor(subject) if subject else "")


def test_refused_token_on_a_workspace_key_records_the_keys_view_of_the_address() -> None:
    rec, err = check("kcidr", mint()[:-4] + "AAAA", "192.168.1.1", "10.1.2.3")
    assert isinstance(err, errors.ActorTokenInvalid)
    assert rec.client_ip == "10.1.2.3" and rec.who is NOBODY


def test_token_actor_replay_protection_holds_on_a_workspace_key() -> None:
    cfg = compiled()
    key = cfg.keys_by_id["kws"]

    def call(token: str, peer: str = "10.0.0.1") -> None:
        check_caller(key, Caller(), peer, None, token, NOW)

    token = mint(subject="frank")
    call(token)
    with pytest.raises(errors.ActorTokenInvalid, match="replayed"):
        call(token)
    with pytest.raises(errors.ActorTokenInvalid, match="missing_claim"):
        call(mint(subject="frank", jti=False))
    # Others' tokens on the same key stay reusable (memoised).
    alice = mint()
    call(alice)
    call(alice)


def test_bound_key_checks_the_address_before_the_token() -> None:
    cfg = compiled(
        identity_snapshot(
            extra_policies=[
                policy_pb2.Policy(
                    name=f"{WS}/policies/kalice-net",
                    target=f"{WS}/keys/kalice",
                    allowed_cidrs=["10.0.0.0/8"],
                )
            ]
        )
    )
    rec = Caller()
    with pytest.raises(errors.ClientIpNotAllowed):
        check_caller(cfg.keys_by_id["kalice"], rec, "8.8.8.8", None, "not-a-token", NOW)
    assert rec.client_ip == "8.8.8.8" and rec.who is NOBODY


# ------------------------------------------------------------------ prompt logging

PL = policy_pb2.Policy
HOUR, WEEK = 3600, 7 * 24 * 3600
FULL, METADATA, OFF = PL.PROMPT_LOGGING_FULL, PL.PROMPT_LOGGING_METADATA, PL.PROMPT_LOGGING_OFF


def prompt_policy(name: str, target: str, **kw: object) -> policy_pb2.Policy:
    return PL(name=f"{WS}/policies/{name}", target=target, **kw)  # type: ignore[arg-type]


def rule(name: str, pattern: str) -> policy_pb2.RedactionRule:
    return policy_pb2.RedactionRule(name=name, pattern=pattern)


PROMPT_CFG_SNAPSHOT = identity_snapshot(
    extra_policies=[
        # The workspace key logs everything for a week, with its own redaction rule.
        prompt_policy(
            "kws-full",
            f"{WS}/keys/kws",
            prompt_logging=FULL,
            prompt_retention={"seconds": WEEK},
            redaction_rules=[rule("ticket", r"T-\d+")],
        ),
        # Team ml (alice's) keeps no prompt text at all.
        prompt_policy("ml-off", actor("ml"), prompt_logging=OFF),
        # bob's own policy: an hour of retention and one more rule.
        prompt_policy(
            "bob-prompts",
            actor("bob"),
            prompt_retention={"seconds": HOUR},
            redaction_rules=[rule("badge", r"EMP-\d{6}")],
        ),
        # frank's is only tried out (shadow): it has no say in what is logged.
        prompt_policy(
            "frank-shadow",
            actor("frank"),
            shadow=True,
            prompt_logging=OFF,
            prompt_retention={"seconds": 60},
        ),
    ],
)
PROMPT_CFG = compiled(PROMPT_CFG_SNAPSHOT)


@pytest.mark.parametrize(
    ("subject", "mode", "retention_s", "rules"),
    [
        (None, PromptLogging.FULL, WEEK, ("CUSTOM:ticket",)),
        ("alice", PromptLogging.OFF, WEEK, None),  # her team's OFF wins over the key's FULL
        ("bob", PromptLogging.FULL, HOUR, ("CUSTOM:badge", "CUSTOM:ticket")),
        ("frank", PromptLogging.FULL, WEEK, ("CUSTOM:ticket",)),  # a shadow policy: no say
        ("erin", PromptLogging.FULL, WEEK, ("CUSTOM:ticket",)),  # her policy says nothing
    ],
)
def test_a_token_actors_prompt_logging_applies_on_a_workspace_key(
    subject: str | None, mode: PromptLogging, retention_s: int, rules: tuple[str, ...] | None
) -> None:
    token = mint(subject=subject) if subject else None
    key = check_caller(PROMPT_CFG.keys_by_id["kws"], Caller(), "10.0.0.1", None, token, NOW)
    logging = key.prompt_logging
    assert (logging.mode, logging.retention_s) == (mode, retention_s)
    assert (logging.redactor.rules if logging.redactor else None) == rules


def test_a_workspace_key_with_a_token_logs_as_a_key_bound_to_that_actor() -> None:
    """Enforcement and prompt logging come from the one set of policies, either way."""
    cfg = compiled(
        identity_snapshot(
            extra_policies=[
                prompt_policy("kalice-full", f"{WS}/keys/kalice", prompt_logging=FULL),
                prompt_policy("kws-full", f"{WS}/keys/kws", prompt_logging=FULL),
                prompt_policy(
                    "ops-hour",
                    actor("ops"),
                    prompt_logging=METADATA,
                    prompt_retention={"seconds": HOUR},
                ),
            ]
        )
    )
    workspace_key = cfg.keys_by_id["kws"]
    via_token = check_caller(workspace_key, Caller(), "10.0.0.1", None, mint(), NOW)
    assert via_token.prompt_logging == cfg.keys_by_id["kalice"].prompt_logging
    assert via_token.prompt_logging.mode is PromptLogging.METADATA
    assert via_token.prompt_logging.retention_s == HOUR
    ops_hour = f"{WS}/policies/ops-hour"
    assert via_token.policy_names == tuple(sorted({*workspace_key.policy_names, ops_hour}))


def test_a_token_actors_union_is_merged_once_not_per_request(monkeypatch) -> None:
    cfg = compiled(PROMPT_CFG_SNAPSHOT)
    key = cfg.keys_by_id["kws"]
    unions = key.identity.policy_unions
    assert isinstance(unions, WorkspacePolicies)
    merged: list[tuple[str, ...]] = []
    merge = unions._merge

    def counting(names: tuple[str, ...]):
        merged.append(names)
        return merge(names)

    monkeypatch.setattr(unions, "_merge", counting)
    first = check_caller(key, Caller(), "10.0.0.1", None, mint(subject="bob"), NOW)
    again = check_caller(key, Caller(), "10.0.0.1", None, mint(subject="bob", jti=False), NOW)
    assert first is again and first.prompt_logging.retention_s == HOUR
    assert merged == [first.policy_names]


# ------------------------------------------------------------------ config


def _with_signing_key(**kw: object) -> snapshot_pb2.Snapshot:
    snap = identity_snapshot()
    snap.signing_keys.append(
        snapshot_pb2.SigningKeyMaterial(
            signing_key=signing_key_pb2.SigningKey(**kw),  # type: ignore[arg-type]
        )
    )
    return snap


SKA = signing_key_pb2.SigningKey


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"name": f"{WS}/keys/x", "algorithm": SKA.ALGORITHM_HS256}, "signingKeys"),
        ({"name": "workspaces/nope/signingKeys/x", "algorithm": SKA.ALGORITHM_HS256}, "nope"),
        ({"name": f"{WS}/signingKeys/x"}, "unspecified"),
        ({"name": f"{WS}/signingKeys/x", "algorithm": SKA.ALGORITHM_HS256}, "HMAC secret"),
        (
            {
                "name": f"{WS}/signingKeys/x",
                "algorithm": SKA.ALGORITHM_EDDSA,
                "public_key_pem": "x",
            },
            "does not parse",
        ),
        ({"name": f"{WS}/signingKeys/ed", "algorithm": SKA.ALGORITHM_HS256}, "twice"),
    ],
)
def test_bad_signing_keys_are_rejected(kw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        compiled(_with_signing_key(**kw))


def test_duplicate_kid_and_wrong_key_type_are_rejected() -> None:
    snap = identity_snapshot()
    snap.signing_keys.append(snap.signing_keys[2])
    with pytest.raises(ConfigError, match="twice"):
        compiled(snap)
    es_pem = identity_snapshot().signing_keys[1].signing_key.public_key_pem
    with pytest.raises(ConfigError, match="Ed25519"):
        compiled(
            _with_signing_key(
                name=f"{WS}/signingKeys/x", algorithm=SKA.ALGORITHM_EDDSA, public_key_pem=es_pem
            )
        )


def test_signing_key_material_never_in_reprs() -> None:
    text = repr(CFG.identities[WS]) + repr(CFG.keys_by_id["kws"])
    assert HS.decode() not in text


# ------------------------------------------------------------------ labels


@pytest.mark.parametrize(
    ("header", "labels"),
    [
        (None, {}),
        ("", {}),
        ("team=ml,cost-center=42", {"team": "ml", "cost-center": "42"}),
        (" a = 1 , b=2 ", {"a": "1", "b": "2"}),
        ("a=1,broken,=x,y=,c=ok", {"a": "1", "c": "ok"}),
        ("a=has space,b=ünï,c=x;y,d=v:1.2_3-4", {"d": "v:1.2_3-4"}),
        (f"{'k' * 64}=v,{'k' * 65}=v", {"k" * 64: "v"}),
        (f"a={'v' * 256},b={'v' * 257}", {"a": "v" * 256}),
        (",".join(f"k{i}=v" for i in range(40)), {f"k{i}": "v" for i in range(MAX_LABELS)}),
    ],
)
def test_parse_labels(header: str | None, labels: dict[str, str]) -> None:
    assert parse_labels(header) == labels


@pytest.mark.parametrize(
    ("header", "workflow"),
    [(None, ""), ("nightly-etl", "nightly-etl"), ("bad value", ""), ("x" * 300, "")],
)
def test_parse_workflow(header: str | None, workflow: str) -> None:
    assert parse_workflow(header) == workflow
