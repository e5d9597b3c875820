"""Verify signed actor identities (RFC 7519 JWTs) on PyJWT — pure, clock injected.

Apps prove who is calling with a short-lived JWT in `X-Oggy-Actor`, signed with
a key the workspace registered. Only EdDSA (Ed25519), ES256 and HS256 are
accepted, and each key verifies only with the algorithm it was registered for
(PyJWT is handed exactly that one algorithm): that closes the classic
`alg: none` and HS/ES confusion attacks. PyJWT parses the token, checks the
signature, `aud` and the required claims; the validity window (`exp`, `nbf`,
`iat`, with bounded skew) is checked here against the injected clock, since
PyJWT reads the wall clock. Verified tokens are memoised by their exact text
until expiry, so a client reusing a token pays for the signature check once.

Workspaces whose policy asks for replay protection get a verifier that
requires a `jti` and accepts each one once; the set of seen ids is a bounded
`ReplayCache` that outlives config changes (the compiled config hands the same
cache to each new verifier), so pushing config never reopens a replay window.
"""

from __future__ import annotations

import base64
import heapq
import json
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jwt.algorithms import HMACAlgorithm

ALGORITHMS = ("EdDSA", "ES256", "HS256")
MAX_TOKEN_BYTES = 4096
DEFAULT_SKEW_SECONDS = 30
# Claims an actor token may carry beyond the registered ones.
ATTRIBUTE_CLAIMS = ("team", "app", "env", "workflow")
# Seen token ids kept per workspace for replay protection (each entry lives until its exp).
DEFAULT_REPLAY_CACHE_SIZE = 200_000
MAX_JTI_LEN = 256

# One decoder, options fixed once (no per-call merge). PyJWT's own time checks are off:
# they read the wall clock, and ours take `now` from the injected clock.
_DECODER = jwt.PyJWT(
    options={
        "require": ["exp", "sub"],
        "verify_exp": False,
        "verify_nbf": False,
        "verify_iat": False,
    }
)


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


def verification_key(
    kid: str, alg: str, *, public_key_pem: str = "", hmac_secret: bytes = b""
) -> VerificationKey:
    """Build a key from registered material; ValueError names what is wrong (never the secret)."""
    if alg == "HS256":
        if not hmac_secret:
            raise ValueError(f"signing key {kid!r}: HS256 needs an HMAC secret")
        try:
            # PyJWT refuses a PEM or SSH public key as an HMAC secret (HS/ES confusion).
            HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(bytes(hmac_secret))
        except jwt.InvalidKeyError as e:
            raise ValueError(f"signing key {kid!r}: HS256 secret looks like a public key") from e
        return VerificationKey(kid, alg, hmac_secret=bytes(hmac_secret))
    if alg not in ("EdDSA", "ES256"):
        raise ValueError(f"signing key {kid!r}: algorithm {alg!r} is not supported")
    try:
        public_key = serialization.load_pem_public_key(public_key_pem.encode())
    except (ValueError, TypeError, UnicodeError) as e:
        raise ValueError(f"signing key {kid!r}: public_key_pem does not parse") from e
    if alg == "EdDSA" and not isinstance(public_key, Ed25519PublicKey):
        raise ValueError(f"signing key {kid!r}: EdDSA needs an Ed25519 public key")
    if alg == "ES256" and not (
        isinstance(public_key, ec.EllipticCurvePublicKey)
        and isinstance(public_key.curve, ec.SECP256R1)
    ):
        raise ValueError(f"signing key {kid!r}: ES256 needs a P-256 public key")
    return VerificationKey(kid, alg, public_key=public_key)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class ActorClaims:
    subject: str
    expires_at: float
    jti: str | None
    attributes: Mapping[str, str]


def _numeric(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ActorTokenInvalid("malformed", f"claim {name!r} must be a number")
    return float(value)


def _header(token: str) -> dict[str, Any]:
    """The unverified JOSE header, only to pick the key PyJWT then verifies with.

    A cheap peek (PyJWT's own parse checks every segment strictly, and runs once,
    in `_verified_claims`); whatever it says, PyJWT accepts only the key's algorithm.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise ActorTokenInvalid("malformed", "a JWT has three dot-separated parts")
    segment = parts[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeError, RecursionError) as exc:
        raise ActorTokenInvalid("malformed", "token is not valid base64url JSON") from exc
    if not isinstance(header, dict) or "alg" not in header:
        raise ActorTokenInvalid("malformed", "the JWT header names no algorithm")
    return header


def _select_key(token: str, keys: Mapping[str, VerificationKey]) -> VerificationKey:
    """The registered key the header names, if the header's algorithm is that key's."""
    header = _header(token)
    alg = header["alg"]
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
    return key


def _verified_claims(
    token: str, key: VerificationKey, audience: str | Collection[str]
) -> dict[str, Any]:
    material = key.public_key if key.public_key is not None else key.hmac_secret
    try:
        # Exactly the key's algorithm: PyJWT refuses any other `alg` for this key.
        return _DECODER.decode(token, material, algorithms=(key.alg,), audience=audience)
    except jwt.InvalidSignatureError as exc:
        raise ActorTokenInvalid("bad_signature", "signature does not verify") from exc
    except jwt.MissingRequiredClaimError as exc:
        if exc.claim == "aud":
            raise ActorTokenInvalid("wrong_audience", "token names no workspace") from exc
        raise ActorTokenInvalid("missing_claim", f"claim {exc.claim!r} is required") from exc
    except jwt.InvalidAudienceError as exc:
        raise ActorTokenInvalid("wrong_audience", "token is for another workspace") from exc
    except jwt.InvalidTokenError as exc:
        raise ActorTokenInvalid("malformed", "token does not decode as a JWT") from exc
    except jwt.InvalidKeyError as exc:  # material verification_key() would have refused
        raise ActorTokenInvalid("bad_signature", "the signing key cannot verify") from exc


def decode_and_verify(
    token: str,
    keys: Mapping[str, VerificationKey],
    audience: str | Collection[str],
    now: float,
    skew: float = DEFAULT_SKEW_SECONDS,
) -> ActorClaims:
    """Check signature, algorithm, audience and validity window; return the claims.

    `audience` is the accepted `aud` value, or a collection of them (a
    workspace accepts its resource name and its bare id).
    """
    if len(token) > MAX_TOKEN_BYTES:
        raise ActorTokenInvalid("too_large", f"token exceeds {MAX_TOKEN_BYTES} bytes")
    claims = _verified_claims(token, _select_key(token, keys), audience)
    exp = _numeric(claims, "exp")
    assert exp is not None  # required above
    if now > exp + skew:
        raise ActorTokenInvalid("expired", "token has expired")
    nbf = _numeric(claims, "nbf")
    if nbf is not None and now < nbf - skew:
        raise ActorTokenInvalid("not_yet_valid", "token is not valid yet")
    iat = _numeric(claims, "iat")
    if iat is not None and iat > now + skew:
        raise ActorTokenInvalid("not_yet_valid", "token was issued in the future")
    sub = claims["sub"]
    if not sub:
        raise ActorTokenInvalid("missing_claim", "claim 'sub' is required")
    attributes = {
        name: value
        for name in ATTRIBUTE_CLAIMS
        if isinstance(value := claims.get(name), str) and value
    }
    return ActorClaims(
        subject=sub, expires_at=exp + skew, jti=claims.get("jti"), attributes=attributes
    )


class ReplayCache:
    """Token ids already used, each kept until its token expires; bounded.

    When the cache is full of ids that are all still valid, new tokens are
    refused (fail closed) rather than forgetting an id that could then be
    replayed. Only holders of a workspace signing key can add ids.
    """

    __slots__ = ("_by_expiry", "_max", "_seen")

    def __init__(self, max_entries: int = DEFAULT_REPLAY_CACHE_SIZE) -> None:
        self._max = max_entries
        self._seen: dict[str, float] = {}
        self._by_expiry: list[tuple[float, str]] = []  # heap: prune in O(log n) per entry

    def __len__(self) -> int:
        return len(self._seen)

    def use(self, jti: str, expires_at: float, now: float) -> None:
        """Record `jti` as used; raise ActorTokenInvalid if it was used before."""
        heap = self._by_expiry
        while heap and heap[0][0] < now:
            _, old = heapq.heappop(heap)
            self._seen.pop(old, None)
        if jti in self._seen:
            raise ActorTokenInvalid("replayed", "token id was already used")
        if len(self._seen) >= self._max:
            raise ActorTokenInvalid("replayed", "too many unexpired token ids; retry later")
        self._seen[jti] = expires_at
        heapq.heappush(heap, (expires_at, jti))


class ActorTokenVerifier:
    """Memoising verifier for one workspace's keys; rebuilt when config changes."""

    def __init__(
        self,
        keys: Mapping[str, VerificationKey],
        audience: str | Collection[str],
        clock: Callable[[], float],
        skew: float = DEFAULT_SKEW_SECONDS,
        cache_size: int = 10_000,
        replay_protection: bool = False,
        replay_cache: ReplayCache | None = None,
    ) -> None:
        self._keys = dict(keys)
        self._audience = audience if isinstance(audience, str) else frozenset(audience)
        self._clock = clock
        self._skew = skew
        self._cache_size = cache_size
        self._replay_protection = replay_protection
        self._verified: OrderedDict[str, ActorClaims] = OrderedDict()
        self._replay = replay_cache if replay_cache is not None else ReplayCache()

    @property
    def replay_protection(self) -> bool:
        return self._replay_protection

    @property
    def key_algorithms(self) -> dict[str, str]:
        """kid → algorithm of the keys it verifies with (no key material)."""
        return {kid: key.alg for kid, key in self._keys.items()}

    def verify(self, token: str, now: float | None = None) -> ActorClaims:
        """The token's claims; `now` defaults to the injected clock."""
        if now is None:
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
        if len(claims.jti) > MAX_JTI_LEN:
            raise ActorTokenInvalid("malformed", f"claim 'jti' exceeds {MAX_JTI_LEN} characters")
        self._replay.use(claims.jti, claims.expires_at, now)
        return claims
