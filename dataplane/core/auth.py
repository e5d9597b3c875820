"""Authenticate a gateway key against the compiled key index: O(1), constant-time compare.

Lifecycle: a revoked key gets `key_revoked`, one past `expire_time`
`key_expired`; after a rotation the previous secret keeps working until its
deadline, then gets `invalid_api_key` like any wrong secret. The presented
secret is hashed once and compared (constant time) against both the current
and the previous hash whatever the outcome, so timing tells nothing about
which one matched or whether the key id exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from hmac import compare_digest
from typing import Protocol, TypeVar

from dataplane.core.keys import bearer_token
from oggy.contract import errors
from oggy.contract.key_text import hash_secret, parse_key


class KeyRecord(Protocol):
    @property
    def environment(self) -> str: ...
    @property
    def secret_sha256(self) -> bytes: ...
    @property
    def revoked(self) -> bool: ...
    @property
    def expire_s(self) -> float | None: ...
    @property
    def previous_secret_sha256(self) -> bytes | None: ...
    @property
    def previous_expire_s(self) -> float | None: ...


K = TypeVar("K", bound=KeyRecord)

# Compared against when the key id is unknown, so an unknown id costs the same hash + compare.
_NO_HASH = bytes(32)


def authenticate(authorization: str | None, keys: Mapping[str, K], now_s: float) -> K:
    """The key record for an `Authorization` header value; raises an InvalidApiKey error.

    The secret is checked before the key's state, so only the holder of a real
    key learns that it was revoked or expired.
    """
    token = bearer_token(authorization)
    if token is None:
        raise errors.InvalidApiKey("Missing gateway API key (Authorization: Bearer oggy_...).")
    parsed = parse_key(token)
    if parsed is None:
        raise errors.InvalidApiKey()
    record = keys.get(parsed.key_id)
    presented = hash_secret(parsed.secret)
    if record is None:
        compare_digest(presented, _NO_HASH)
        compare_digest(presented, _NO_HASH)
        raise errors.InvalidApiKey()
    previous = record.previous_secret_sha256
    matched = compare_digest(presented, record.secret_sha256)
    matched_previous = compare_digest(presented, previous or _NO_HASH)
    if not matched and matched_previous and previous is not None:
        deadline = record.previous_expire_s
        matched = deadline is not None and now_s < deadline
    if not matched or (record.environment and record.environment != parsed.environment):
        # The caller named a real key id: worth attributing the failed attempt to it.
        raise _with_key(errors.InvalidApiKey(), record)
    if record.revoked:
        raise _with_key(errors.KeyRevoked(), record)
    if record.expire_s is not None and now_s >= record.expire_s:
        raise _with_key(errors.KeyExpired(), record)
    return record


def _with_key(err: errors.InvalidApiKey, record: object) -> errors.InvalidApiKey:
    err.key_record = record
    return err
