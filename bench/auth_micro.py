"""Micro-benchmark: per-request admission cost (auth, actor token, policy) on a large snapshot.

    .venv/bin/python bench/auth_micro.py [--keys 100000] [--actors 10000] [--seconds 1.0]

Compiles a snapshot with `--keys` gateway keys and `--actors` actors (spread over
10 workspaces, each with EdDSA, ES256 and HS256 signing keys and a few policies),
then times, per request (µs/op, one core, no event loop):

- authenticate: parse the key text, dict lookup, SHA-256 + constant-time compares;
- admit: the whole admission step of a chat request (`core.admission`: key, IP,
  actor-token requirement, identity, labels, the body prepared, model, max
  tokens, routing, provider policy) on prepared request facts;
- admit + token (cached): the same request carrying a signed actor token that
  was verified before (memoised by its text);
- admit + token (uncached, per alg): every token new, so the signature is
  checked each time (replay-protected key: single-use jti);
- policy: model + provider + max-tokens decisions (memoised);
- request total: the same as admit + token (cached), kept as the headline row.

Keys and tokens rotate through 1,000 different requests so the dict lookups are
not all the same entry. Compile time is reported too.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataplane.core.admission import Admitted, Ask, admit, find_key
from dataplane.core.auth import authenticate
from dataplane.http.endpoints import CHAT
from oggy.actor_token import mint_actor_token
from oggy.contract.compile import CompiledConfig, compile_snapshot
from oggy.contract.identity import ReplayCaches
from oggy.contract.key_text import hash_secret
from oggy.v1 import (
    actor_pb2,
    key_pb2,
    policy_pb2,
    provider_pb2,
    signing_key_pb2,
    snapshot_pb2,
    workspace_pb2,
)

WORKSPACES = 10
SECRET = "S" * 43
ED = Ed25519PrivateKey.generate()
ES = ec.generate_private_key(ec.SECP256R1())
HS = b"bench-hmac-secret-0123456789abcdef"
SK = signing_key_pb2.SigningKey
ROTATE = 1000


def _pem(key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def ws_name(w: int) -> str:
    return f"workspaces/ws{w}"


def key_id(i: int) -> str:
    return f"k{i:015d}"


def actor_name(w: int, a: int) -> str:
    return f"{ws_name(w)}/actors/a{a}"


def build_snapshot(n_keys: int, n_actors: int) -> snapshot_pb2.Snapshot:
    snap = snapshot_pb2.Snapshot(revision=1)
    digest = hash_secret(SECRET)
    per_ws_actors = max(1, n_actors // WORKSPACES)
    for w in range(WORKSPACES):
        ws = ws_name(w)
        snap.workspaces.append(workspace_pb2.Workspace(name=ws))
        snap.actors.append(
            actor_pb2.Actor(name=f"{ws}/actors/team", kind=actor_pb2.Actor.KIND_TEAM)
        )
        for a in range(per_ws_actors - 1):
            snap.actors.append(
                actor_pb2.Actor(
                    name=actor_name(w, a),
                    kind=actor_pb2.Actor.KIND_USER,
                    teams=[f"{ws}/actors/team"],
                )
            )
        snap.signing_keys.extend(
            [
                snapshot_pb2.SigningKeyMaterial(
                    signing_key=SK(
                        name=f"{ws}/signingKeys/ed",
                        algorithm=SK.ALGORITHM_EDDSA,
                        public_key_pem=_pem(ED),
                    )
                ),
                snapshot_pb2.SigningKeyMaterial(
                    signing_key=SK(
                        name=f"{ws}/signingKeys/es",
                        algorithm=SK.ALGORITHM_ES256,
                        public_key_pem=_pem(ES),
                    )
                ),
                snapshot_pb2.SigningKeyMaterial(
                    signing_key=SK(name=f"{ws}/signingKeys/hs", algorithm=SK.ALGORITHM_HS256),
                    hmac_secret=HS,
                ),
            ]
        )
        snap.providers.append(
            snapshot_pb2.ProviderMaterial(
                provider=provider_pb2.ProviderCredential(
                    name=f"{ws}/providers/openai",
                    kind=provider_pb2.ProviderCredential.KIND_OPENAI,
                    base_url="http://127.0.0.1:9/v1",
                    models=["gpt-4o", "gpt-4o-mini", "o*"],
                ),
                api_key="sk-bench",
            )
        )
        snap.policies.extend(
            [
                policy_pb2.Policy(
                    name=f"{ws}/policies/base",
                    target=ws,
                    denied_models=["*-preview"],
                    allowed_providers=[f"{ws}/providers/openai"],
                    allowed_cidrs=["10.0.0.0/8", "127.0.0.0/8"],
                    max_output_tokens=4096,
                    max_tokens_mode=policy_pb2.Policy.MAX_TOKENS_MODE_CAP,
                    actor_claim_overrides=["team"],
                ),
                policy_pb2.Policy(
                    name=f"{ws}/policies/team",
                    target=f"{ws}/actors/team",
                    allowed_models=["gpt-*", "o*"],
                ),
                policy_pb2.Policy(
                    name=f"{ws}/policies/shadow",
                    target=ws,
                    shadow=True,
                    denied_models=["gpt-4o"],
                ),
                policy_pb2.Policy(
                    name=f"{ws}/policies/replay",
                    target=f"{ws}/keys/{key_id(w)}",
                    replay_protection=True,
                ),
            ]
        )
    for i in range(n_keys):
        w = i % WORKSPACES
        bound = actor_name(w, (i // WORKSPACES) % (per_ws_actors - 1)) if i % 2 else ""
        snap.keys.append(
            snapshot_pb2.KeyMaterial(
                key=key_pb2.GatewayKey(
                    name=f"{ws_name(w)}/keys/{key_id(i)}",
                    actor=bound,
                    state=key_pb2.GatewayKey.STATE_ACTIVE,
                    environment="live",
                ),
                secret_sha256=digest,
            )
        )
    return snap


def per_op_us(fn: Callable[[int], object], seconds: float, rounds: int = 5) -> float:
    """Median over `rounds` of the mean time per call, in µs."""
    results = []
    for _ in range(rounds):
        n = 0
        start = time.perf_counter()
        deadline = start + seconds / rounds
        while True:
            for i in range(200):
                fn(n + i)
            n += 200
            now = time.perf_counter()
            if now >= deadline:
                break
        results.append((now - start) / n * 1e6)
    return statistics.median(results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--actors", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    args = ap.parse_args()

    t0 = time.perf_counter()
    snap = build_snapshot(args.keys, args.actors)
    t1 = time.perf_counter()
    cfg: CompiledConfig = compile_snapshot(snap, replay_caches=ReplayCaches())
    t2 = time.perf_counter()
    per_ws_actors = max(1, args.actors // WORKSPACES)
    print(
        f"snapshot: {len(snap.keys):,} keys, {len(snap.actors):,} actors, "
        f"{len(snap.signing_keys)} signing keys; built {t1 - t0:.2f}s, compiled {t2 - t1:.2f}s"
    )

    now = time.time()
    # Workspace keys (even ids) with a token naming some actor of the workspace.
    # (keys 0..9 carry the replay-protection policy: kept for the uncached runs)
    key_ids = [20 + 2 * ((i * 7919) % (args.keys // 2 - 10)) for i in range(ROTATE)]
    headers = [{"Authorization": f"Bearer oggy_live_{key_id(k)}_{SECRET}"} for k in key_ids]
    tokens = [
        mint_actor_token(
            ED,
            kid="ed",
            workspace=ws_name(k % WORKSPACES),
            subject=f"a{(k // WORKSPACES) % (per_ws_actors - 1)}",
            now=now,
            ttl_seconds=3600,
            team="team",
        )
        for k in key_ids
    ]
    body = orjson.dumps(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 256}
    )
    plain = [Ask(h, "127.0.0.1", body) for h in headers]
    with_token = [
        Ask({**h, "X-Oggy-Actor": t}, "127.0.0.1", body)
        for h, t in zip(headers, tokens, strict=True)
    ]
    keys = cfg.keys_by_id
    endpoint = CHAT.endpoint

    def admit_one(ask: Ask) -> object:
        found = find_key(keys, ask.headers["Authorization"], now)
        verdict = admit(found, ask, endpoint, now)
        assert type(verdict) is Admitted, verdict
        return verdict

    def op_authenticate(i: int) -> object:
        return authenticate(headers[i % ROTATE]["Authorization"], keys, now)

    def op_admit(i: int) -> object:
        return admit_one(plain[i % ROTATE])

    def op_admit_token(i: int) -> object:
        return admit_one(with_token[i % ROTATE])

    compiled_keys = [keys[key_id(k)] for k in key_ids]

    def op_policy(i: int) -> object:
        p = compiled_keys[i % ROTATE].policy
        p.check_model("gpt-4o-mini")
        p.check_provider(compiled_keys[i % ROTATE].workspace.providers[0].name)
        return p.check_max_tokens(256)

    for i in range(ROTATE):  # warm the memo caches (tokens verified once)
        op_admit_token(i)

    rows = [
        ("authenticate (key only)", per_op_us(op_authenticate, args.seconds)),
        ("admit, no token", per_op_us(op_admit, args.seconds)),
        ("admit + token (cached)", per_op_us(op_admit_token, args.seconds)),
        ("policy (model+provider+max_tokens)", per_op_us(op_policy, args.seconds)),
        ("request total (cached token)", per_op_us(op_admit_token, args.seconds)),
    ]

    # Uncached: a replay-protected key (no memo), every token new (single-use jti).
    replay_key = f"Bearer oggy_live_{key_id(0)}_{SECRET}"
    for alg, signer, kid in (("EdDSA", ED, "ed"), ("ES256", ES, "es"), ("HS256", HS, "hs")):
        n = 3000
        fresh = [
            Ask(
                {
                    "Authorization": replay_key,
                    "X-Oggy-Actor": mint_actor_token(
                        signer, kid=kid, workspace=ws_name(0), subject="a1", now=now
                    ),
                },
                "127.0.0.1",
                body,
            )
            for _ in range(n)
        ]
        start = time.perf_counter()
        for ask in fresh:
            admit_one(ask)
        rows.append((f"admit + token (uncached, {alg})", (time.perf_counter() - start) / n * 1e6))

    width = max(len(name) for name, _ in rows)
    print(f"{'operation':<{width}}  µs/op")
    for name, us in rows:
        print(f"{name:<{width}}  {us:7.2f}")


if __name__ == "__main__":
    main()
