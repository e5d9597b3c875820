"""Verify signed actor identities (RFC 7519 JWTs) — pure, clock injected.

Apps prove who is calling with a short-lived JWT in `X-Oggy-Actor`, signed with
a key the workspace registered. Only EdDSA (Ed25519), ES256 and HS256 are
accepted, and only with the algorithm a key was registered for: that closes the
classic `alg: none` and HS/ES confusion attacks. Verified tokens are memoised
by their exact text until expiry, so a client reusing a token pays for the
signature check once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

ALGORITHMS = ("EdDSA", "ES256", "HS256")
MAX_TOKEN_BYTES = 4096
DEFAULT_SKEW_SECONDS = 30
# Claims an actor token may carry beyond the registered ones.
ATTRIBUTE_CLAIMS = ("team", "app", "env", "workflow")


class ActorTokenInvalid(Exception):
    """The token does not prove an identity; `reason` is safe to show the caller."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A workspace's registered signing key, ready to verify with."""

    kid: str
    alg: str
    public_key: Ed25519PublicKey | ec.EllipticCurvePublicKey | None = None
    hmac_secret: bytes | None = None

    def __repr__(self) -> str:
        return f"VerificationKey(kid={self.kid!r}, alg={self.alg!r})"


@dataclass(frozen=True, slots=True)
class ActorClaims:
    subject: str
    expires_at: float
    jti: str | None
    attributes: Mapping[str, str]


def _b64decode(segment: str) -> bytes:
    padded = segment + "=" * (-len(segment) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def _verify_signature(key: VerificationKey, signing_input: bytes, signature: bytes) -> bool:
    try:
        if key.alg == "HS256" and key.hmac_secret is not None:
            expected = hmac.new(key.hmac_secret, signing_input, hashlib.sha256).digest()
            return hmac.compare_digest(expected, signature)
        if key.alg == "EdDSA" and isinstance(key.public_key, Ed25519PublicKey):
            key.public_key.verify(signature, signing_input)
            return True
        if key.alg == "ES256" and isinstance(key.public_key, ec.EllipticCurvePublicKey):
            # JWS carries ES256 signatures as raw r||s, 32 bytes each.
            if len(signature) != 64:
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            key.public_key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
            return True
    except InvalidSignature:
        return False
    return False


def _numeric(claims: Mapping[str, Any], name: str, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise ActorTokenInvalid("missing_claim", f"claim {name!r} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ActorTokenInvalid("malformed", f"claim {name!r} must be a number")
    return float(value)


def decode_and_verify(
    token: str,
    keys: Mapping[str, VerificationKey],
    audience: str,
    now: float,
    skew: float = DEFAULT_SKEW_SECONDS,
) -> ActorClaims:
    """Check signature, algorithm, audience and validity window; return the claims."""
    if len(token) > MAX_TOKEN_BYTES:
        raise ActorTokenInvalid("too_large", f"token exceeds {MAX_TOKEN_BYTES} bytes")
    parts = token.split(".")
    if len(parts) != 3:
        raise ActorTokenInvalid("malformed", "a JWT has three dot-separated parts")
    try:
        header = orjson.loads(_b64decode(parts[0]))
        claims = orjson.loads(_b64decode(parts[1]))
        signature = _b64decode(parts[2])
    except (ValueError, UnicodeError) as exc:
        raise ActorTokenInvalid("malformed", "token is not valid base64url JSON") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ActorTokenInvalid("malformed", "header and claims must be JSON objects")

    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise ActorTokenInvalid("alg_not_allowed", f"algorithm {alg!r} is not accepted")
    kid = header.get("kid")
    if kid is None and len(keys) == 1:
        kid = next(iter(keys))
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise ActorTokenInvalid("unknown_kid", f"no signing key {kid!r} in this workspace")
    if key.alg != alg:
        raise ActorTokenInvalid("alg_mismatch", f"key {kid!r} is registered for {key.alg}")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    if not _verify_signature(key, signing_input, signature):
        raise ActorTokenInvalid("bad_signature", "signature does not verify")

    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audience not in audiences:
        raise ActorTokenInvalid("wrong_audience", "token is for another workspace")
    exp = _numeric(claims, "exp", required=True)
    assert exp is not None
    if now > exp + skew:
        raise ActorTokenInvalid("expired", "token has expired")
    nbf = _numeric(claims, "nbf", required=False)
    if nbf is not None and now < nbf - skew:
        raise ActorTokenInvalid("not_yet_valid", "token is not valid yet")
    iat = _numeric(claims, "iat", required=False)
    if iat is not None and iat > now + skew:
        raise ActorTokenInvalid("not_yet_valid", "token was issued in the future")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise ActorTokenInvalid("missing_claim", "claim 'sub' is required")
    jti = claims.get("jti")
    attributes = {
        name: value
        for name in ATTRIBUTE_CLAIMS
        if isinstance(value := claims.get(name), str) and value
    }
    return ActorClaims(
        subject=sub,
        expires_at=exp + skew,
        jti=jti if isinstance(jti, str) else None,
        attributes=attributes,
    )


class ActorTokenVerifier:
    """Memoising verifier for one workspace's keys; rebuilt when config changes."""

    def __init__(
        self,
        keys: Mapping[str, VerificationKey],
        audience: str,
        clock: Callable[[], float],
        skew: float = DEFAULT_SKEW_SECONDS,
        cache_size: int = 10_000,
        replay_protection: bool = False,
    ) -> None:
        self._keys = dict(keys)
        self._audience = audience
        self._clock = clock
        self._skew = skew
        self._cache_size = cache_size
        self._replay_protection = replay_protection
        self._verified: OrderedDict[str, ActorClaims] = OrderedDict()
        self._seen_jti: dict[str, float] = {}

    def verify(self, token: str) -> ActorClaims:
        now = self._clock()
        if self._replay_protection:
            return self._verify_once(token, now)
        cached = self._verified.get(token)
        if cached is not None and now <= cached.expires_at:
            self._verified.move_to_end(token)
            return cached
        claims = decode_and_verify(token, self._keys, self._audience, now, self._skew)
        self._verified[token] = claims
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return claims

    def _verify_once(self, token: str, now: float) -> ActorClaims:
        claims = decode_and_verify(token, self._keys, self._audience, now, self._skew)
        if claims.jti is None:
            raise ActorTokenInvalid("missing_claim", "claim 'jti' is required (replay protection)")
        if len(self._seen_jti) > self._cache_size:
            self._seen_jti = {j: exp for j, exp in self._seen_jti.items() if exp >= now}
        if claims.jti in self._seen_jti:
            raise ActorTokenInvalid("replayed", "token id was already used")
        self._seen_jti[claims.jti] = claims.expires_at
        return claims
