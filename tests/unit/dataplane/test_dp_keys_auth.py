"""Gateway key parsing and authentication against a key index."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dataplane.core.auth import authenticate
from dataplane.core.keys import bearer_token
from oggy.contract import errors
from oggy.contract.key_text import hash_secret, parse_key

SECRET = "Q" * 43


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        (f"oggy_live_k1a2b3c4d5e6f7g8_{SECRET}", ("live", "k1a2b3c4d5e6f7g8", SECRET)),
        (f"oggy_test_my-key_{SECRET}", ("test", "my-key", SECRET)),
        (f"oggy_live_1abc_{SECRET}", None),  # id must start with a letter
        (f"oggy_LIVE_kid_{SECRET}", None),
        (f"oggy__kid_{SECRET}", None),
        (f"oggy_live_kid_{SECRET}_x", None),
        (f"sk_live_kid_{SECRET}", None),
        ("oggy_live_kid_short", None),
        (f"oggy_live_kid_{'+' * 43}", None),
        (f"oggy_live_k{'x' * 300}_{SECRET}", None),
        ("", None),
    ],
)
def test_parse_key(text: str, parsed: tuple[str, str, str] | None) -> None:
    got = parse_key(text)
    assert (tuple(got) if got else None) == parsed


def test_parsed_key_repr_hides_secret() -> None:
    got = parse_key(f"oggy_live_kid_{SECRET}")
    assert got is not None and SECRET not in repr(got)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("Bearer   ", None),
        (None, None),
        ("", None),
    ],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@dataclass(frozen=True)
class Key:
    name: str
    environment: str = "live"
    secret_sha256: bytes = hash_secret(SECRET)
    revoked: bool = False
    expire_s: float | None = None
    previous_secret_sha256: bytes | None = None
    previous_expire_s: float | None = None


KEYS = {
    "kok": Key("kok"),
    "krev": Key("krev", revoked=True),
    "kexp": Key("kexp", expire_s=100.0),
    "kany": Key("kany", environment=""),
}


@pytest.mark.parametrize(
    ("header", "now", "result"),
    [
        (f"Bearer oggy_live_kok_{SECRET}", 0, "kok"),
        (f"Bearer oggy_test_kany_{SECRET}", 0, "kany"),
        (f"Bearer oggy_live_kexp_{SECRET}", 99.9, "kexp"),
        (None, 0, "invalid_api_key"),
        ("Bearer nope", 0, "invalid_api_key"),
        (f"Bearer oggy_live_kmissing_{SECRET}", 0, "invalid_api_key"),
        (f"Bearer oggy_live_kok_{'R' * 43}", 0, "invalid_api_key"),
        (f"Bearer oggy_test_kok_{SECRET}", 0, "invalid_api_key"),  # wrong environment
        (f"Bearer oggy_live_krev_{SECRET}", 0, "key_revoked"),
        (f"Bearer oggy_live_krev_{'R' * 43}", 0, "invalid_api_key"),  # no state leak
        (f"Bearer oggy_live_kexp_{SECRET}", 100.0, "key_expired"),
    ],
)
def test_authenticate(header: str | None, now: float, result: str) -> None:
    try:
        key = authenticate(header, KEYS, now)
    except errors.InvalidApiKey as e:
        assert e.status == 401
        assert e.code == result
        assert SECRET not in e.message
    else:
        assert key.name == result
