"""Key lifecycle in authentication: rotation grace, revoke, expiry, constant-time compares."""

from __future__ import annotations

import contextlib
import hmac

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from dataplane.core import auth
from dataplane.core.auth import authenticate
from oggy.contract import errors
from oggy.contract.compile import CompiledConfig, ConfigError, compile_snapshot
from oggy.contract.key_text import hash_secret
from oggy.v1 import key_pb2, snapshot_pb2, workspace_pb2

WS = "workspaces/acme"
OLD = "O" * 43
NEW = "N" * 43
ROTATED_AT = 1_000.0
GRACE_UNTIL = 2_000.0


def material(key_id: str, **kw: object) -> snapshot_pb2.KeyMaterial:
    previous = kw.pop("previous", None)
    fields: dict[str, object] = {"state": key_pb2.GatewayKey.STATE_ACTIVE, **kw}
    m = snapshot_pb2.KeyMaterial(
        key=key_pb2.GatewayKey(
            name=f"{WS}/keys/{key_id}",
            environment="live",
            **fields,  # type: ignore[arg-type]
        ),
        secret_sha256=hash_secret(NEW),
    )
    if previous is not None:
        m.previous_secret_sha256 = previous
    return m


def config(*keys: snapshot_pb2.KeyMaterial) -> CompiledConfig:
    return compile_snapshot(
        snapshot_pb2.Snapshot(revision=1, workspaces=[workspace_pb2.Workspace(name=WS)], keys=keys)
    )


CFG = config(
    material(
        "krotated",
        previous=hash_secret(OLD),
        rotate_time=Timestamp(seconds=int(ROTATED_AT)),
        previous_secret_expire_time=Timestamp(seconds=int(GRACE_UNTIL)),
    ),
    # A previous hash without a deadline never works (no unbounded grace).
    material("knodeadline", previous=hash_secret(OLD)),
    material("krevoked", state=key_pb2.GatewayKey.STATE_REVOKED),
    material("kexpiring", expire_time=Timestamp(seconds=500)),
    material(
        "krevrot",
        state=key_pb2.GatewayKey.STATE_REVOKED,
        previous=hash_secret(OLD),
        previous_secret_expire_time=Timestamp(seconds=int(GRACE_UNTIL)),
    ),
)


def bearer(key_id: str, secret: str) -> str:
    return f"Bearer oggy_live_{key_id}_{secret}"


@pytest.mark.parametrize(
    ("key_id", "secret", "now", "outcome"),
    [
        ("krotated", NEW, 0.0, "ok"),
        ("krotated", NEW, GRACE_UNTIL + 1e6, "ok"),
        ("krotated", OLD, ROTATED_AT + 1, "ok"),  # grace period
        ("krotated", OLD, GRACE_UNTIL - 0.001, "ok"),
        ("krotated", OLD, GRACE_UNTIL, "invalid_api_key"),  # deadline passed
        ("krotated", "W" * 43, ROTATED_AT + 1, "invalid_api_key"),
        ("knodeadline", OLD, 0.0, "invalid_api_key"),
        ("knodeadline", NEW, 0.0, "ok"),
        ("krevoked", NEW, 0.0, "key_revoked"),
        ("krevoked", OLD, 0.0, "invalid_api_key"),  # no state leak to a wrong secret
        ("krevrot", OLD, ROTATED_AT, "key_revoked"),  # revocation beats the grace secret
        ("kexpiring", NEW, 499.0, "ok"),
        ("kexpiring", NEW, 500.0, "key_expired"),
        ("kunknown", NEW, 0.0, "invalid_api_key"),
    ],
)
def test_key_lifecycle(key_id: str, secret: str, now: float, outcome: str) -> None:
    try:
        key = authenticate(bearer(key_id, secret), CFG.keys_by_id, now)
    except errors.InvalidApiKey as e:
        assert e.status == 401
        assert e.code == outcome
        assert secret not in e.message
    else:
        assert outcome == "ok" and key.key_id == key_id


def test_every_path_hashes_once_and_compares_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return hmac.compare_digest(a, b)

    monkeypatch.setattr(auth, "compare_digest", counting)
    for key_id, secret in [
        ("kunknown", NEW),
        ("krotated", NEW),
        ("krotated", OLD),
        ("knodeadline", "W" * 43),
        ("krevoked", NEW),
    ]:
        calls.clear()
        with contextlib.suppress(errors.InvalidApiKey):
            authenticate(bearer(key_id, secret), CFG.keys_by_id, ROTATED_AT)
        assert len(calls) == 2, key_id


def test_previous_hash_of_the_wrong_size_is_rejected() -> None:
    with pytest.raises(ConfigError, match="previous_secret_sha256"):
        config(
            material(
                "kbad",
                previous=b"short",
                previous_secret_expire_time=Timestamp(seconds=int(GRACE_UNTIL)),
            )
        )


def test_previous_secret_hash_not_in_repr() -> None:
    key = CFG.keys_by_id["krotated"]
    assert key.previous_expire_s == GRACE_UNTIL
    assert hash_secret(OLD).hex() not in repr(key)
    assert repr(hash_secret(OLD)) not in repr(key)
