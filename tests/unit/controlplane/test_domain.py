"""Pure domain helpers: names, ids, key text, paging, field masks, validation."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controlplane.domain import fieldmask, keys, paging, validation
from controlplane.domain.errors import InvalidArgument
from controlplane.domain.ids import KEY_ID_PATTERN, new_id
from controlplane.domain.layout import Layout
from oggy.contract import key_text
from oggy.contract.names import (
    ChildName,
    Collection,
    InvalidName,
    WorkspaceName,
    parse_any_name,
    parse_child_name,
    parse_workspace_name,
    validate_id,
)

# Names are checked by the shared contract (InvalidName), the rest by the domain.
INVALID = (InvalidArgument, InvalidName)


@pytest.mark.parametrize("good", ["a", "acme", "a-1", "a" * 63])
def test_valid_ids(good: str) -> None:
    assert validate_id(good) == good


@pytest.mark.parametrize("bad", ["", "1a", "A", "a_b", "a/b", "a" * 64, "-a", "a b"])
def test_invalid_ids(bad: str) -> None:
    with pytest.raises(INVALID):
        validate_id(bad)


def test_names_round_trip() -> None:
    ws = parse_workspace_name("workspaces/acme")
    assert str(ws) == "workspaces/acme"
    child = parse_child_name("workspaces/acme/keys/k1", Collection.KEYS)
    assert child == ChildName("acme", Collection.KEYS, "k1") and child.parent == ws
    assert str(ws.child(Collection.POLICIES, "p")) == "workspaces/acme/policies/p"
    assert ws.collection_prefix(Collection.ACTORS) == "workspaces/acme/actors/"
    assert parse_any_name("workspaces/acme") == WorkspaceName("acme")
    assert parse_any_name("workspaces/acme/actors/a").collection is Collection.ACTORS  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "bad",
    ["", "workspaces/", "workspace/acme", "workspaces/acme/keys", "workspaces/Acme", "/x"],
)
def test_bad_workspace_names(bad: str) -> None:
    with pytest.raises(INVALID):
        parse_workspace_name(bad)


def test_child_name_must_match_collection() -> None:
    with pytest.raises(INVALID):
        parse_child_name("workspaces/acme/actors/a", Collection.KEYS)
    with pytest.raises(INVALID):
        parse_any_name("workspaces/acme/things/a")


def test_generated_ids_are_valid_key_ids() -> None:
    rng = random.Random(7)
    ids = {new_id(rng) for _ in range(200)}
    assert len(ids) == 200
    assert all(KEY_ID_PATTERN.fullmatch(i) and validate_id(i) for i in ids)


def test_key_text_round_trip_and_hash() -> None:
    rng = random.Random(1)
    secret = keys.new_secret(rng)
    assert len(secret) == keys.SECRET_LENGTH and secret.isalnum()
    text = key_text.format_key_text("live", "abcdefghijklmnop", secret)
    parsed = key_text.parse_key(text)
    assert parsed is not None
    assert (parsed.environment, parsed.key_id, parsed.secret) == (
        "live",
        "abcdefghijklmnop",
        secret,
    )
    assert key_text.key_prefix("live", "abcdefghijklmnop") == "oggy_live_abcdefghijklmnop"
    assert key_text.hash_secret(secret) == hashlib.sha256(secret.encode()).digest()
    assert secret not in repr(parsed)


@given(st.integers(min_value=0, max_value=2**256 - 1))
def test_secret_encoding_is_fixed_length(n: int) -> None:
    class Fixed:
        def getrandbits(self, k: int) -> int:
            return n

        def choice(self, seq: str) -> str:
            return seq[0]

    s = keys.new_secret(Fixed())
    assert len(s) == 43 and key_text.parse_key(f"oggy_t_abcdefghijklmnop_{s}") is not None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "oggy_live_abcdefghijklmnop",
        "sk_live_abcdefghijklmnop_" + "a" * 43,
        "oggy_LIVE_abcdefghijklmnop_" + "a" * 43,
        "oggy_live_1abc_" + "a" * 43,
        "oggy_live_abcdefghijklmnop_" + "a" * 15,
        "oggy_live_abcdefghijklmnop_" + "a" * 42 + "_",
    ],
)
def test_malformed_key_text(text: str) -> None:
    assert key_text.parse_key(text) is None


def test_page_size_bounds() -> None:
    assert paging.page_size(0) == 50
    assert paging.page_size(7) == 7
    assert paging.page_size(5000) == 1000
    with pytest.raises(INVALID):
        paging.page_size(-1)


def test_paginate_walks_all_items_once() -> None:
    items = [f"n{i:02d}" for i in range(7)]
    seen, token = [], ""
    while True:
        page, token = paging.paginate(items, lambda s: s, "scope", 3, token)
        seen += page
        if not token:
            break
    assert seen == items


def test_page_token_scope_and_garbage() -> None:
    token = paging.encode_token("a/", "x")
    assert paging.decode_token(token, "a/") == "x"
    with pytest.raises(INVALID):
        paging.decode_token(token, "b/")
    for garbage in ("!!!", "e30", "bm90IGpzb24"):
        with pytest.raises(INVALID):
            paging.decode_token(garbage, "a/")


def test_resolve_mask() -> None:
    upd = fieldmask.POLICY_UPDATABLE
    assert fieldmask.resolve_mask(["shadow"], upd, []) == ("shadow",)
    assert fieldmask.resolve_mask([], upd, ["name", "shadow", "target"]) == ("target", "shadow")
    assert fieldmask.resolve_mask(["*"], upd, []) == upd
    for bad in (["etag"], ["*", "shadow"], ["nope"]):
        with pytest.raises(INVALID):
            fieldmask.resolve_mask(bad, upd, [])


@pytest.mark.parametrize(
    "url",
    ["https://api.openai.com/v1", "http://127.0.0.1:8000/v1", "https://x.openai.azure.com/?a=1"],
)
def test_good_base_urls(url: str) -> None:
    assert validation.base_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "",
        "api.openai.com/v1",
        "ftp://example.com",
        "https://user@example.com",
        "https://user:pass@example.com",
        "https://example.com/#frag",
        "https://",
        "https://exa mple.com",
        "https://example.com:99999",
    ],
)
def test_bad_base_urls(url: str) -> None:
    with pytest.raises(INVALID):
        validation.base_url(url)


def test_api_key_errors_never_echo_the_key() -> None:
    for bad in ("has space", "new\nline", "x" * 5000):
        with pytest.raises(INVALID) as info:
            validation.api_key(bad)
        assert bad not in str(info.value)


def test_etag_and_request_id() -> None:
    assert validation.etag("") == 0
    assert validation.etag("42") == 42
    for bad in ("x", "-1", "0", "1.5"):
        with pytest.raises(INVALID):
            validation.etag(bad)
    assert validation.request_id("0190d7d0-aaaa") == "0190d7d0-aaaa"
    with pytest.raises(INVALID):
        validation.request_id("a/b")


def test_cidrs() -> None:
    assert validation.cidrs(["10.0.0.0/8", "::1/128", "1.2.3.4"], "f")
    with pytest.raises(INVALID):
        validation.cidrs(["10.0.0.0/33"], "f")


def test_layout() -> None:
    layout = Layout("/oggy/")
    assert layout.resource("workspaces/a") == "/oggy/workspaces/a"
    assert layout.name_of("/oggy/workspaces/a") == "workspaces/a"
    assert layout.secret("workspaces/a/providers/p") == "/oggy/secrets/workspaces/a/providers/p"
    assert layout.request("r1") == "/oggy/requests/r1"
    assert layout.key_index("k") == "/oggy/index/keys/k"
    with pytest.raises(ValueError):
        Layout("/oggy")
