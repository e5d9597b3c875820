"""Actor-token signing keys: which material each algorithm takes, and its fingerprint.

EdDSA and ES256 keys are public keys (PEM SubjectPublicKeyInfo), parsed here so a
key the data plane could not use is refused at the API. HS256 takes a shared
secret of at least 32 bytes (RFC 7518 §3.2: no shorter than the hash output),
which is stored envelope-encrypted and never returned.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from controlplane.domain.errors import InvalidArgument
from oggy.v1 import signing_key_pb2

Algorithm = signing_key_pb2.SigningKey.Algorithm
MIN_HMAC_SECRET_BYTES = 32
MAX_HMAC_SECRET_BYTES = 4096
MAX_PEM_CHARS = 16_384
FINGERPRINT_HEX = 12


@dataclass(frozen=True, slots=True)
class Material:
    """Validated key material: the public PEM, or the HMAC secret (never in repr)."""

    public_key_pem: str = ""
    hmac_secret: bytes = field(default=b"", repr=False)

    @property
    def fingerprint(self) -> str:
        raw = self.hmac_secret or self.public_key_pem.encode("utf-8")
        return fingerprint(raw)


def fingerprint(material: bytes) -> str:
    return hashlib.sha256(material).hexdigest()[:FINGERPRINT_HEX]


def validate(key: signing_key_pb2.SigningKey) -> Material:
    """The material `key` carries for its algorithm; raises InvalidArgument.

    Error messages never include the secret or the PEM.
    """
    algorithm = key.algorithm
    if algorithm == Algorithm.ALGORITHM_HS256:
        if key.public_key_pem:
            raise InvalidArgument("HS256 keys take hmac_secret, not public_key_pem")
        secret = key.hmac_secret.encode("utf-8")
        if len(secret) < MIN_HMAC_SECRET_BYTES:
            raise InvalidArgument(
                f"signing_key.hmac_secret must be at least {MIN_HMAC_SECRET_BYTES} bytes"
            )
        if len(secret) > MAX_HMAC_SECRET_BYTES:
            raise InvalidArgument("signing_key.hmac_secret is too long")
        return Material(hmac_secret=secret)
    if algorithm in (Algorithm.ALGORITHM_EDDSA, Algorithm.ALGORITHM_ES256):
        if key.hmac_secret:
            raise InvalidArgument(
                f"{Algorithm.Name(algorithm)} keys take public_key_pem, not hmac_secret"
            )
        return Material(public_key_pem=_public_pem(key.public_key_pem, algorithm))
    raise InvalidArgument("signing_key.algorithm is required (EDDSA, ES256 or HS256)")


def _public_pem(pem: str, algorithm: int) -> str:
    if not pem:
        raise InvalidArgument("signing_key.public_key_pem is required")
    if len(pem) > MAX_PEM_CHARS:
        raise InvalidArgument("signing_key.public_key_pem is too long")
    if "PRIVATE KEY" in pem:
        # Someone pasted the private half: refuse it rather than store it.
        raise InvalidArgument("signing_key.public_key_pem must be a public key, not a private key")
    try:
        public = load_pem_public_key(pem.encode("utf-8"))
    except (ValueError, TypeError):
        raise InvalidArgument("signing_key.public_key_pem is not a PEM public key") from None
    if algorithm == Algorithm.ALGORITHM_EDDSA:
        if not isinstance(public, ed25519.Ed25519PublicKey):
            raise InvalidArgument("an EDDSA signing key must be an Ed25519 public key")
    elif not (isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"):
        raise InvalidArgument("an ES256 signing key must be an EC P-256 public key")
    return pem
