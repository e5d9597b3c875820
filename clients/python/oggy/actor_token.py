"""Mint actor tokens for the Oggy gateway (`X-Oggy-Actor` header).

    from oggy.actor_token import mint_actor_token
    token = mint_actor_token(private_key, kid="app-1", workspace="workspaces/acme",
                             subject="workspaces/acme/actors/alice", team="ml")

Tokens are standard RFC 7519 JWTs (EdDSA, ES256 or HS256) signed with PyJWT, so
any JWT library can mint them too.
"""

from __future__ import annotations

import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SigningKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey | bytes


def algorithm_for(key: SigningKey) -> str:
    if isinstance(key, Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(key, bytes):
        return "HS256"
    raise TypeError("key must be an Ed25519 or P-256 private key, or HMAC secret bytes")


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
    claims: dict[str, object] = {
        "sub": subject,
        "aud": workspace,
        "iat": issued,
        "exp": issued + ttl_seconds,
        **attributes,
    }
    if jti:
        claims["jti"] = str(uuid.uuid4())
    return jwt.encode(claims, key, algorithm=algorithm_for(key), headers={"typ": "JWT", "kid": kid})
