"""Actor-token verification: every rejection reason, and interop with PyJWT."""

from __future__ import annotations

import base64
import hashlib
import hmac

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from oggy.actor_token import mint_actor_token
from oggy.contract.actor_token import (
    ActorTokenInvalid,
    ActorTokenVerifier,
    ReplayCache,
    VerificationKey,
    decode_and_verify,
    verification_key,
)

NOW = 1_800_000_000.0
WS = "workspaces/acme"
ALICE = "workspaces/acme/actors/alice"
ED = Ed25519PrivateKey.generate()
ES = ec.generate_private_key(ec.SECP256R1())
HS = b"s3cret-hmac-key-with-enough-entropy!!"
KEYS = {
    "ed": VerificationKey("ed", "EdDSA", public_key=ED.public_key()),
    "es": VerificationKey("es", "ES256", public_key=ES.public_key()),
    "hs": VerificationKey("hs", "HS256", hmac_secret=HS),
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def verify(token: str, now: float = NOW) -> str:
    return decode_and_verify(token, KEYS, WS, now).subject


@pytest.mark.parametrize(("kid", "key"), [("ed", ED), ("es", ES), ("hs", HS)])
def test_valid_tokens_verify(kid: str, key: object) -> None:
    token = mint_actor_token(key, kid=kid, workspace=WS, subject=ALICE, now=NOW, team="ml")
    claims = decode_and_verify(token, KEYS, WS, NOW)
    assert claims.subject == ALICE
    assert claims.attributes == {"team": "ml"}


def test_pyjwt_minted_tokens_verify() -> None:
    claims = {"sub": ALICE, "aud": WS, "exp": int(NOW) + 60, "iat": int(NOW)}
    for kid, key, alg in [("ed", ED, "EdDSA"), ("es", ES, "ES256"), ("hs", HS, "HS256")]:
        token = pyjwt.encode(claims, key, algorithm=alg, headers={"kid": kid})
        assert verify(token) == ALICE


def _forge(header: dict, claims: dict, signature: bytes = b"x") -> str:
    import json

    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{b64(signature)}"


GOOD = {"sub": ALICE, "aud": WS, "exp": int(NOW) + 60}


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (_forge({"alg": "none", "kid": "ed"}, GOOD, b""), "alg_not_allowed"),
        (_forge({"alg": "RS256", "kid": "ed"}, GOOD), "alg_not_allowed"),
        (_forge({"alg": "EdDSA", "kid": "nope"}, GOOD), "unknown_kid"),
        (_forge({"alg": "HS256", "kid": "es"}, GOOD), "alg_mismatch"),
        (_forge({"alg": "EdDSA", "kid": "ed"}, GOOD), "bad_signature"),
        ("not-a-jwt", "malformed"),
        ("a.b.c", "malformed"),
        ("x" * 5000, "too_large"),
    ],
)
def test_forged_or_malformed_tokens_are_refused(token: str, reason: str) -> None:
    with pytest.raises(ActorTokenInvalid) as info:
        verify(token)
    assert info.value.reason == reason


def test_hs_es_confusion_with_public_key_as_hmac_secret_is_refused() -> None:
    # The attacker signs HS256 using the ES key's public bytes as the HMAC secret.
    from cryptography.hazmat.primitives import serialization

    public_pem = ES.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Forged by hand: PyJWT (and so mint_actor_token) refuses a PEM as an HMAC secret.
    header = b64(b'{"alg":"HS256","kid":"es"}')
    claims = b64(b'{"sub":"%s","aud":"%s","exp":%d}' % (ALICE.encode(), WS.encode(), NOW + 60))
    signature = hmac.new(public_pem, f"{header}.{claims}".encode(), hashlib.sha256).digest()
    with pytest.raises(ActorTokenInvalid, match="alg_mismatch"):
        verify(f"{header}.{claims}.{b64(signature)}")
    with pytest.raises(pyjwt.InvalidKeyError):
        mint_actor_token(public_pem, kid="es", workspace=WS, subject=ALICE, now=NOW)


@pytest.mark.parametrize(
    ("claims", "now", "reason"),
    [
        ({"sub": ALICE, "aud": "workspaces/other", "exp": NOW + 60}, NOW, "wrong_audience"),
        ({"sub": ALICE, "aud": WS, "exp": NOW - 31}, NOW, "expired"),
        ({"sub": ALICE, "aud": WS, "exp": NOW + 600, "nbf": NOW + 31}, NOW, "not_yet_valid"),
        ({"sub": ALICE, "aud": WS}, NOW, "missing_claim"),
        ({"aud": WS, "exp": NOW + 60}, NOW, "missing_claim"),
        ({"sub": ALICE, "aud": WS, "exp": "soon"}, NOW, "malformed"),
    ],
)
def test_claim_checks(claims: dict, now: float, reason: str) -> None:
    token = pyjwt.encode(claims, HS, algorithm="HS256", headers={"kid": "hs"})
    with pytest.raises(ActorTokenInvalid) as info:
        verify(token, now)
    assert info.value.reason == reason


def test_clock_skew_is_bounded() -> None:
    token = pyjwt.encode({"sub": ALICE, "aud": WS, "exp": NOW}, HS, "HS256", {"kid": "hs"})
    assert verify(token, NOW + 29) == ALICE
    with pytest.raises(ActorTokenInvalid, match="expired"):
        verify(token, NOW + 31)


def test_verifier_memoises_until_expiry_then_rejects() -> None:
    now = [NOW]
    verifier = ActorTokenVerifier(KEYS, WS, clock=lambda: now[0])
    token = mint_actor_token(ED, kid="ed", workspace=WS, subject=ALICE, now=NOW, ttl_seconds=60)
    assert verifier.verify(token).subject == ALICE
    assert verifier.verify(token).subject == ALICE
    now[0] = NOW + 120
    with pytest.raises(ActorTokenInvalid, match="expired"):
        verifier.verify(token)


def test_replay_protection_refuses_a_reused_jti() -> None:
    verifier = ActorTokenVerifier(KEYS, WS, clock=lambda: NOW, replay_protection=True)
    token = mint_actor_token(HS, kid="hs", workspace=WS, subject=ALICE, now=NOW)
    verifier.verify(token)
    with pytest.raises(ActorTokenInvalid, match="replayed"):
        verifier.verify(token)


def test_repr_hides_hmac_secret() -> None:
    assert "s3cret" not in repr(KEYS["hs"])


def test_audience_may_be_a_collection() -> None:
    token = mint_actor_token(HS, kid="hs", workspace="acme", subject=ALICE, now=NOW)
    assert decode_and_verify(token, KEYS, (WS, "acme"), NOW).subject == ALICE
    with pytest.raises(ActorTokenInvalid, match="wrong_audience"):
        decode_and_verify(token, KEYS, (WS,), NOW)


def test_verify_takes_an_explicit_now() -> None:
    verifier = ActorTokenVerifier(KEYS, WS, clock=lambda: 0.0)
    token = mint_actor_token(ED, kid="ed", workspace=WS, subject=ALICE, now=NOW)
    assert verifier.verify(token, NOW).subject == ALICE


def test_replay_cache_is_bounded_fails_closed_and_forgets_expired_ids() -> None:
    cache = ReplayCache(max_entries=3)
    for i in range(3):
        cache.use(f"j{i}", expires_at=NOW + 10 + i, now=NOW)
    with pytest.raises(ActorTokenInvalid, match="replayed"):
        cache.use("j0", expires_at=NOW + 10, now=NOW)
    # Full of unexpired ids: refuse rather than forget one that could then be replayed.
    with pytest.raises(ActorTokenInvalid) as info:
        cache.use("j3", expires_at=NOW + 20, now=NOW)
    assert "retry later" in info.value.detail
    # Once j0 and j1 have expired they are pruned, making room.
    cache.use("j3", expires_at=NOW + 20, now=NOW + 11.5)
    assert len(cache) == 2


def test_replay_cache_is_shared_between_verifiers() -> None:
    cache = ReplayCache()
    token = mint_actor_token(HS, kid="hs", workspace=WS, subject=ALICE, now=NOW)
    first = ActorTokenVerifier(KEYS, WS, lambda: NOW, replay_protection=True, replay_cache=cache)
    first.verify(token)
    second = ActorTokenVerifier(KEYS, WS, lambda: NOW, replay_protection=True, replay_cache=cache)
    with pytest.raises(ActorTokenInvalid, match="replayed"):
        second.verify(token)


def test_replay_protection_bounds_jti_length() -> None:
    verifier = ActorTokenVerifier(KEYS, WS, clock=lambda: NOW, replay_protection=True)
    claims = {"sub": ALICE, "aud": WS, "exp": int(NOW) + 60, "jti": "j" * 300}
    with pytest.raises(ActorTokenInvalid, match="malformed"):
        verifier.verify(pyjwt.encode(claims, HS, "HS256", {"kid": "hs"}))


def test_memo_cache_is_bounded() -> None:
    verifier = ActorTokenVerifier(KEYS, WS, clock=lambda: NOW, cache_size=4)
    for i in range(10):
        verifier.verify(mint_actor_token(HS, kid="hs", workspace=WS, subject=f"a{i}", now=NOW))
    assert len(verifier._verified) == 4


@pytest.mark.parametrize(
    ("alg", "kw", "message"),
    [
        ("HS256", {}, "HMAC secret"),
        ("RS256", {"public_key_pem": "x"}, "not supported"),
        ("EdDSA", {"public_key_pem": "garbage"}, "does not parse"),
        ("ES256", {"public_key_pem": "ED"}, "P-256"),
        ("EdDSA", {"public_key_pem": "ES"}, "Ed25519"),
    ],
)
def test_verification_key_validation(alg: str, kw: dict, message: str) -> None:
    from cryptography.hazmat.primitives import serialization

    pems = {
        name: key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
        for name, key in (("ED", ED), ("ES", ES))
    }
    if kw.get("public_key_pem") in pems:
        kw = {"public_key_pem": pems[kw["public_key_pem"]]}
    with pytest.raises(ValueError, match=message):
        verification_key("k", alg, **kw)


def test_verification_key_builds_each_algorithm() -> None:
    from cryptography.hazmat.primitives import serialization

    def pem(key: object) -> str:
        return (
            key.public_key()  # type: ignore[attr-defined]
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    keys = {
        "ed": verification_key("ed", "EdDSA", public_key_pem=pem(ED)),
        "es": verification_key("es", "ES256", public_key_pem=pem(ES)),
        "hs": verification_key("hs", "HS256", hmac_secret=HS),
    }
    for kid, key in (("ed", ED), ("es", ES), ("hs", HS)):
        token = mint_actor_token(key, kid=kid, workspace=WS, subject=ALICE, now=NOW)
        assert decode_and_verify(token, keys, WS, NOW).subject == ALICE


def test_a_signed_token_whose_claims_are_not_json_is_malformed() -> None:
    signed = pyjwt.api_jws.encode(b"not json", HS, algorithm="HS256", headers={"kid": "hs"})
    with pytest.raises(ActorTokenInvalid) as info:
        verify(signed)
    assert info.value.reason == "malformed"


def test_a_header_without_alg_is_malformed() -> None:
    with pytest.raises(ActorTokenInvalid) as info:
        verify(_forge({"kid": "hs"}, GOOD))
    assert info.value.reason == "malformed"


def test_a_non_canonical_segment_is_refused_by_pyjwts_strict_parse() -> None:
    token = mint_actor_token(HS, kid="hs", workspace=WS, subject=ALICE, now=NOW)
    with pytest.raises(ActorTokenInvalid) as info:
        verify(token + "!!!!")
    assert info.value.reason == "malformed"


def test_a_non_string_jti_is_malformed() -> None:
    token = pyjwt.encode({**GOOD, "jti": 7}, HS, "HS256", {"kid": "hs"})
    with pytest.raises(ActorTokenInvalid) as info:
        verify(token)
    assert info.value.reason == "malformed"


def test_validity_window_uses_the_injected_clock_not_the_wall_clock() -> None:
    # Long expired by the wall clock, valid at the injected `now`.
    token = mint_actor_token(HS, kid="hs", workspace=WS, subject=ALICE, now=1000, ttl_seconds=60)
    assert decode_and_verify(token, KEYS, WS, 1030).subject == ALICE
    with pytest.raises(ActorTokenInvalid, match="expired"):
        decode_and_verify(token, KEYS, WS, 1091)


def test_an_hmac_secret_that_is_a_public_key_is_refused() -> None:
    from cryptography.hazmat.primitives import serialization

    pem = ES.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="looks like a public key") as info:
        verification_key("k", "HS256", hmac_secret=pem)
    assert pem.decode() not in str(info.value)
