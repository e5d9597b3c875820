"""Issue 3 scenario "signed actor at scale": a big snapshot and an actor token on every request.

The workspace gets its provider credentials, three signing keys (EdDSA, ES256, HS256) and a
few policies through the admin API; its 100,000 gateway keys and 10,000 actors are written
straight into etcd, in the exact format and layout the admin API uses (KeyMaterial at
`<prefix>workspaces/{w}/keys/{k}` plus the global `<prefix>index/keys/{k}` entry, Actor at
`<prefix>workspaces/{w}/actors/{a}`), in transactions of at most 128 operations. The
control plane's publisher picks them up from its etcd watch like any other change.

Pure helpers plus the two async steps that talk to etcd / the config stream; run.py wires
them into the benchmark (and owns the processes).
"""

from __future__ import annotations

import asyncio
import inspect
import secrets
import string
import time
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controlplane.api import convert
from controlplane.domain import keys as domain_keys
from controlplane.domain.layout import Layout
from controlplane.store.etcd import EtcdStore
from controlplane.store.txn import Put
from oggy.actor_token import mint_actor_token
from oggy.contract import key_text
from oggy.contract.actor_token import ActorTokenVerifier
from oggy.contract.identity import ACTOR_HEADER
from oggy.v1 import (
    actor_pb2,
    admin_service_pb2,
    config_service_pb2,
    config_service_pb2_grpc,
    key_pb2,
    policy_pb2,
    signing_key_pb2,
)

WORKSPACE_ID = "scale"
WORKSPACE = f"workspaces/{WORKSPACE_ID}"
KEYS = 100_000
ACTORS = 10_000
TEAMS = 100  # of the actors, this many are teams; the rest are users, each in one team
TEAM_POLICIES = 10  # teams with a policy of their own (merged in when their users call)
TXN_OPS = 128  # etcd's default --max-txn-ops
TXNS_IN_FLIGHT = 4
ROTATE_FEW = 1_000
TOKEN_TTL_S = 24 * 3600
EDDSA_KID = "ed"
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
SK = signing_key_pb2.SigningKey


def verifier_memo_size() -> int:
    """How many verified tokens the data plane memoises per workspace (its default)."""
    default = inspect.signature(ActorTokenVerifier.__init__).parameters["cache_size"].default
    return int(default)


def rotate_many() -> int:
    """Tokens enough that a cyclic rotation misses the verifier's LRU memo every time."""
    return verifier_memo_size() * 6 // 5


def key_id(i: int) -> str:
    return f"s{i:015d}"  # 16 chars, like generated ids; unique across workspaces


def team_id(t: int) -> str:
    return f"team-{t:03d}"


def user_id(u: int) -> str:
    return f"u{u:05d}"


@dataclass(frozen=True)
class Population:
    """What was seeded into etcd and the keys/actors wrk will use."""

    keys: int
    actors: int
    txns: int
    seconds: float
    last_revision: int
    # Workspace keys (not bound to an actor), paired with the actor a token will name.
    sample: tuple[tuple[str, str], ...]

    @property
    def writes(self) -> int:
        return 2 * self.keys + self.actors


def _secret_for(base: str, i: int) -> str:
    return base + f"{i:010d}"  # 43 base62 chars, distinct per key


def _users(n_actors: int) -> int:
    return max(1, n_actors - TEAMS)


def _ops(n_keys: int, n_actors: int, base: str, layout: Layout, now: float):
    """(team puts, user puts, key puts): the stored values exactly as the admin API writes."""
    teams = [
        Put(
            layout.resource(f"{WORKSPACE}/actors/{team_id(t)}"),
            convert.new_actor(
                actor_pb2.Actor(kind=actor_pb2.Actor.KIND_TEAM, display_name=team_id(t)),
                f"{WORKSPACE}/actors/{team_id(t)}",
                now,
            ),
        )
        for t in range(TEAMS)
    ]
    users = [
        Put(
            layout.resource(f"{WORKSPACE}/actors/{user_id(u)}"),
            convert.new_actor(
                actor_pb2.Actor(
                    kind=actor_pb2.Actor.KIND_USER,
                    teams=[f"{WORKSPACE}/actors/{team_id(u % TEAMS)}"],
                ),
                f"{WORKSPACE}/actors/{user_id(u)}",
                now,
            ),
        )
        for u in range(_users(n_actors))
    ]
    key_ops: list[Put] = []
    for i in range(n_keys):
        kid = key_id(i)
        name = f"{WORKSPACE}/keys/{kid}"
        # Odd keys are bound to a user, even ones are workspace keys (a token names the actor).
        bound = f"{WORKSPACE}/actors/{user_id((i // 2) % _users(n_actors))}" if i % 2 else ""
        value = convert.new_key_material(
            key_pb2.GatewayKey(actor=bound),
            name=name,
            environment=domain_keys.DEFAULT_ENVIRONMENT,
            key_prefix=key_text.key_prefix(domain_keys.DEFAULT_ENVIRONMENT, kid),
            secret_sha256=key_text.hash_secret(_secret_for(base, i)),
            now=now,
        )
        key_ops += [Put(layout.resource(name), value), Put(layout.key_index(kid), name.encode())]
    return teams, users, key_ops


async def _commit_all(store: EtcdStore, ops: Sequence[Put]) -> tuple[int, int]:
    """Commit `ops` in chunks of TXN_OPS, a few transactions in flight; (txns, last revision)."""
    chunks = [ops[i : i + TXN_OPS] for i in range(0, len(ops), TXN_OPS)]
    slots = asyncio.Semaphore(TXNS_IN_FLIGHT)

    async def one(chunk: Sequence[Put]) -> int:
        async with slots:
            return await store.commit([], chunk)

    revisions = await asyncio.gather(*(one(c) for c in chunks))
    return len(chunks), max(revisions, default=0)


async def _seed(etcd_url: str, n_keys: int, n_actors: int, n_sample: int, prefix: str):
    base = "".join(secrets.choice(_BASE62) for _ in range(domain_keys.SECRET_LENGTH - 10))
    teams, users, key_ops = _ops(n_keys, n_actors, base, Layout(prefix), time.time())
    store = EtcdStore(etcd_url, timeout=30.0)
    started = time.perf_counter()
    txns = last = 0
    # Teams before their users, actors before the keys bound to them.
    for phase in (teams, users, key_ops):
        n, rev = await _commit_all(store, phase)
        txns, last = txns + n, max(last, rev)
    seconds = time.perf_counter() - started
    users_n = _users(n_actors)
    even = max(1, n_keys // 2)
    sample = []
    for j in range(min(n_sample, even)):
        i = 2 * ((j * 7919) % even)  # spread over the key space
        text = key_text.format_key_text(
            domain_keys.DEFAULT_ENVIRONMENT, key_id(i), _secret_for(base, i)
        )
        sample.append((text, f"{WORKSPACE}/actors/{user_id((j * 104729) % users_n)}"))
    return Population(n_keys, n_actors, txns, seconds, last, tuple(sample))


def seed(
    etcd_url: str, n_keys: int, n_actors: int, n_sample: int, prefix: str = "/oggy/"
) -> Population:
    """Write the keys and actors straight into etcd; `n_sample` workspace keys come back."""
    return asyncio.run(_seed(etcd_url, n_keys, n_actors, n_sample, prefix))


# -- admin API part: signing keys and policies --------------------------------------------


@dataclass(frozen=True)
class Signers:
    eddsa: Ed25519PrivateKey
    es256: ec.EllipticCurvePrivateKey
    hs256: bytes


def _pem(key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def create_signing_keys(admin: object) -> Signers:
    """One signing key per algorithm, via the admin API (`admin` is an oggy_stack.Admin)."""
    signers = Signers(
        Ed25519PrivateKey.generate(),
        ec.generate_private_key(ec.SECP256R1()),
        secrets.token_urlsafe(32).encode(),
    )
    for kid, algorithm, pem, hmac_secret in (
        (EDDSA_KID, SK.ALGORITHM_EDDSA, _pem(signers.eddsa), ""),
        ("es", SK.ALGORITHM_ES256, _pem(signers.es256), ""),
        ("hs", SK.ALGORITHM_HS256, "", signers.hs256.decode()),
    ):
        admin.call(  # type: ignore[attr-defined]
            "CreateSigningKey",
            admin_service_pb2.CreateSigningKeyRequest(
                parent=WORKSPACE,
                signing_key_id=kid,
                signing_key=SK(algorithm=algorithm, public_key_pem=pem, hmac_secret=hmac_secret),
            ),
        )
    return signers


def create_policies(admin: object, n_actors: int) -> None:
    """Via the admin API, once the actors exist (a policy's target must exist).

    The workspace policy requires an actor token on every request; TEAM_POLICIES teams
    get a policy of their own (model allowlist), so their users' requests take the
    merged-policy path.
    """
    policies = [
        ("require-token", policy_pb2.Policy(target=WORKSPACE, require_actor_token=True)),
        *(
            (
                f"team-{t:03d}",
                policy_pb2.Policy(
                    target=f"{WORKSPACE}/actors/{team_id(t)}", allowed_models=["bench-*"]
                ),
            )
            for t in range(TEAM_POLICIES if n_actors > TEAMS else 0)
        ),
    ]
    for policy_id, policy in policies:
        admin.call(  # type: ignore[attr-defined]
            "CreatePolicy",
            admin_service_pb2.CreatePolicyRequest(
                parent=WORKSPACE, policy_id=policy_id, policy=policy
            ),
        )


async def _revision(etcd_url: str) -> int:
    return await EtcdStore(etcd_url).ping()


def current_revision(etcd_url: str) -> int:
    return asyncio.run(_revision(etcd_url))


def mint(signers: Signers, actor: str, now: float) -> str:
    """An EdDSA actor token naming `actor`, valid for TOKEN_TTL_S."""
    return mint_actor_token(
        signers.eddsa,
        kid=EDDSA_KID,
        workspace=WORKSPACE,
        subject=actor,
        ttl_seconds=TOKEN_TTL_S,
        now=now,
        app="bench",
    )


def token_headers(token: str) -> tuple[tuple[str, str], ...]:
    return ((ACTOR_HEADER, token),)


# -- config stream probe: what the data plane will receive --------------------------------


@dataclass(frozen=True)
class SnapshotInfo:
    revision: int
    serialized_bytes: int
    keys: int
    actors: int
    signing_keys: int
    policies: int
    first_response_s: float  # StreamConfig opened -> full snapshot received
    caught_up_s: float  # probe started -> a snapshot at (or past) the wanted revision


async def _probe(address: str, node_token: str, revision: int, limit_s: float) -> SnapshotInfo:
    started = time.perf_counter()
    options = [("grpc.max_receive_message_length", 512 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        stub = config_service_pb2_grpc.ConfigDiscoveryServiceStub(channel)
        while True:
            call = stub.StreamConfig(metadata=(("authorization", f"Bearer {node_token}"),))
            opened = time.perf_counter()
            node = config_service_pb2.Node(id="bench-snapshot-probe", hostname="bench")
            await call.write(config_service_pb2.StreamConfigRequest(node=node))
            response = await asyncio.wait_for(call.read(), limit_s)
            received = time.perf_counter()
            call.cancel()
            if response is grpc.aio.EOF:
                raise RuntimeError("config stream closed before a snapshot")
            snap = response.snapshot
            if snap.revision >= revision:
                return SnapshotInfo(
                    revision=snap.revision,
                    serialized_bytes=snap.ByteSize(),
                    keys=len(snap.keys),
                    actors=len(snap.actors),
                    signing_keys=len(snap.signing_keys),
                    policies=len(snap.policies),
                    first_response_s=received - opened,
                    caught_up_s=received - started,
                )
            if received - started > limit_s:
                raise RuntimeError(
                    f"publisher at revision {snap.revision} after {limit_s:.0f}s, "
                    f"seeded up to {revision}"
                )
            await asyncio.sleep(0.5)


def probe_snapshot(
    address: str, node_token: str, revision: int, timeout: float = 120.0
) -> SnapshotInfo:
    """Open the config stream as a node would; wait until it reflects `revision`."""
    return asyncio.run(_probe(address, node_token, revision, timeout))
