"""Mint actor tokens for the Oggy gateway (`X-Oggy-Actor` header).

    from oggy.actor_token import mint_actor_token
    token = mint_actor_token(private_key, kid="app-1", workspace="workspaces/acme",
                             subject="workspaces/acme/actors/alice", team="ml")

Tokens are standard RFC 7519 JWTs (EdDSA, ES256 or HS256), so any JWT library
can mint them too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


SigningKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey | bytes


def algorithm_for(key: SigningKey) -> str:
    if isinstance(key, Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(key, bytes):
        return "HS256"
    raise TypeError("key must be an Ed25519 or P-256 private key, or HMAC secret bytes")


def _sign(key: SigningKey, payload: bytes) -> bytes:
    if isinstance(key, Ed25519PrivateKey):
        return key.sign(payload)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        # JWS wants ES256 as raw r||s, not DER.
        r, s = decode_dss_signature(key.sign(payload, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return hmac.new(key, payload, hashlib.sha256).digest()


def mint_actor_token(
    key: SigningKey,
    *,
    kid: str,
    workspace: str,
    subject: str,
    ttl_seconds: int = 300,
    now: float | None = None,
    jti: bool = True,
    **attributes: str,
) -> str:
    """Return a compact JWT; `attributes` are optional claims: team, app, env, workflow."""
    issued = int(time.time() if now is None else now)
    header = {"alg": algorithm_for(key), "typ": "JWT", "kid": kid}
    claims: dict[str, object] = {
        "sub": subject,
        "aud": workspace,
        "iat": issued,
        "exp": issued + ttl_seconds,
        **attributes,
    }
    if jti:
        claims["jti"] = str(uuid.uuid4())
    signing_input = (
        _b64(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64(json.dumps(claims, separators=(",", ":")).encode())
    )
    return f"{signing_input}.{_b64(_sign(key, signing_input.encode('ascii')))}"
