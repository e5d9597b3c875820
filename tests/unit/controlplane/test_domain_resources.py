"""Pure checks for the issue-3/4 resources: base URLs, signing keys, routes, prices,
audit paging and principals."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.domain import audit, prices, routes, signing_keys
from controlplane.domain.errors import InvalidArgument, NotFound
from controlplane.domain.urls import validate_base_url
from oggy.contract.default_prices import default_entries
from oggy.contract.names import (
    Collection,
    InvalidName,
    WorkspaceName,
    parse_child_name,
    validate_id,
)
from oggy.contract.pricing import TokenCounts
from oggy.v1 import price_pb2, route_pb2, signing_key_pb2

# Names are checked by the shared contract (InvalidName), the rest by the domain.
INVALID = (InvalidArgument, InvalidName)

SK = signing_key_pb2.SigningKey
ALG = SK.Algorithm


# --- base URLs ---------------------------------------------------------------------------

GOOD = [
    ("https://api.openai.com/v1", False),
    ("http://llm.internal.example:8080/v1", False),
    ("https://[2606:4700:4700::1111]/v1", False),
    ("https://8.8.8.8/v1", False),
    ("http://127.0.0.1:8000/v1", True),
    ("http://10.0.0.1/v1", True),
    ("http://192.168.1.20:11434", True),
    ("http://[::1]:8000", True),
    ("http://[fd00::5]/v1", True),
    ("http://localhost:11434", True),
]
BAD = [
    ("http://169.254.169.254/latest/meta-data", True),  # cloud metadata: never
    ("http://169.254.169.254/latest/meta-data", False),
    ("http://[fe80::1]/v1", True),
    ("http://[::ffff:169.254.169.254]/", True),  # IPv4-mapped metadata
    ("http://0.0.0.0:80/", True),
    ("http://[::]/", True),
    ("http://224.0.0.1/", True),
    ("http://metadata.google.internal/computeMetadata/v1", True),
    ("http://metadata/computeMetadata/v1", True),
    ("http://METADATA.google.internal./", True),
    ("https://user:pass@api.example.com/v1", False),
    ("https://user@api.example.com/v1", False),
    ("ftp://example.com/v1", False),
    ("file:///etc/passwd", True),
    ("https://api.example.com/v1#frag", False),
    ("https:///v1", False),
    ("not a url", False),
    ("", False),
    ("https://api.example.com:99999/", False),
    ("http://10.0.0.1/v1", False),  # private without the flag
    ("http://127.0.0.1:8000/v1", False),
    ("http://2130706433/", False),  # 127.0.0.1 in decimal
    ("http://0x7f.1/", False),
    ("http://[::1]:8000", False),
    ("http://[fc00::1]/", False),
    ("http://172.16.0.1/", False),
    ("http://localhost:11434", False),
]


@pytest.mark.parametrize(("url", "allow"), GOOD)
def test_base_url_accepted(url: str, allow: bool) -> None:
    assert validate_base_url(url, allow) == url


@pytest.mark.parametrize(("url", "allow"), BAD)
def test_base_url_refused(url: str, allow: bool) -> None:
    with pytest.raises(INVALID) as info:
        validate_base_url(url, allow)
    assert "pass" not in str(info.value)  # never echoes the URL (user info could be a key)


# --- ids and names ---------------------------------------------------------------------


@pytest.mark.parametrize("kid", ["k1", "Key.2024-01_a", "A" * 64, "0"])
def test_kid_ids(kid: str) -> None:
    assert validate_id(kid, "kid", Collection.SIGNING_KEYS) == kid
    name = parse_child_name(f"workspaces/w/signingKeys/{kid}", Collection.SIGNING_KEYS)
    assert name.resource_id == kid


@pytest.mark.parametrize("kid", ["", "a/b", "A" * 65, "a b", ".", ".."])
def test_bad_kid_ids(kid: str) -> None:
    with pytest.raises(INVALID):
        validate_id(kid, "kid", Collection.SIGNING_KEYS)


# --- signing keys ------------------------------------------------------------------------


def _pem(public) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


ED_PEM = _pem(ed25519.Ed25519PrivateKey.generate().public_key())
P256_PEM = _pem(ec.generate_private_key(ec.SECP256R1()).public_key())
P384_PEM = _pem(ec.generate_private_key(ec.SECP384R1()).public_key())
RSA_PEM = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key())
PRIVATE_PEM = (
    ed25519.Ed25519PrivateKey.generate()
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)


def test_signing_key_material_and_fingerprint() -> None:
    ed = signing_keys.validate(SK(algorithm=ALG.ALGORITHM_EDDSA, public_key_pem=ED_PEM))
    assert ed.public_key_pem == ED_PEM and not ed.hmac_secret
    assert len(ed.fingerprint) == 12
    es = signing_keys.validate(SK(algorithm=ALG.ALGORITHM_ES256, public_key_pem=P256_PEM))
    assert es.public_key_pem == P256_PEM
    secret = "s" * 32
    hs = signing_keys.validate(SK(algorithm=ALG.ALGORITHM_HS256, hmac_secret=secret))
    assert hs.hmac_secret == secret.encode()
    assert secret not in repr(hs)
    import hashlib

    assert hs.fingerprint == hashlib.sha256(secret.encode()).hexdigest()[:12]


@pytest.mark.parametrize(
    "key",
    [
        SK(),
        SK(algorithm=ALG.ALGORITHM_EDDSA),
        SK(algorithm=ALG.ALGORITHM_EDDSA, public_key_pem=P256_PEM),
        SK(algorithm=ALG.ALGORITHM_EDDSA, public_key_pem=PRIVATE_PEM),
        SK(algorithm=ALG.ALGORITHM_EDDSA, public_key_pem="-----BEGIN PUBLIC KEY-----\nxx\n"),
        SK(algorithm=ALG.ALGORITHM_ES256, public_key_pem=P384_PEM),
        SK(algorithm=ALG.ALGORITHM_ES256, public_key_pem=RSA_PEM),
        SK(algorithm=ALG.ALGORITHM_ES256, public_key_pem=ED_PEM),
        SK(algorithm=ALG.ALGORITHM_ES256, public_key_pem=P256_PEM, hmac_secret="x" * 40),
        SK(algorithm=ALG.ALGORITHM_HS256, hmac_secret="short-secret-31-bytes-long-xxxx"),
        SK(algorithm=ALG.ALGORITHM_HS256, hmac_secret="x" * 40, public_key_pem=ED_PEM),
    ],
)
def test_signing_key_refused(key: signing_key_pb2.SigningKey) -> None:
    with pytest.raises(INVALID) as info:
        signing_keys.validate(key)
    assert "xxxx" not in str(info.value)


# --- routes ------------------------------------------------------------------------------

W = WorkspaceName("w")
P1 = "workspaces/w/providers/p1"


def test_route_validation() -> None:
    ok = route_pb2.Route(
        model="gpt-fast",
        targets=[
            route_pb2.RouteTarget(provider=P1),
            route_pb2.RouteTarget(provider="workspaces/w/providers/p2", model="gpt-4o-mini"),
            route_pb2.RouteTarget(provider=P1, model="other"),
        ],
    )
    assert [str(p) for p in routes.validate(ok, W)] == [P1, "workspaces/w/providers/p2"]


@pytest.mark.parametrize(
    "route",
    [
        route_pb2.Route(targets=[route_pb2.RouteTarget(provider=P1)]),
        route_pb2.Route(model="m"),
        route_pb2.Route(model="m", targets=[route_pb2.RouteTarget()]),
        route_pb2.Route(model="gpt-*", targets=[route_pb2.RouteTarget(provider=P1)]),
        route_pb2.Route(
            model="m", targets=[route_pb2.RouteTarget(provider="workspaces/x/providers/p")]
        ),
        route_pb2.Route(model="m", targets=[route_pb2.RouteTarget(provider="workspaces/w/keys/k")]),
        route_pb2.Route(model="m", targets=[route_pb2.RouteTarget(provider=P1, model="a b")]),
        route_pb2.Route(model="m", targets=[route_pb2.RouteTarget(provider=P1)] * 17),
    ],
)
def test_route_refused(route: route_pb2.Route) -> None:
    with pytest.raises(INVALID):
        routes.validate(route, W)


# --- prices ------------------------------------------------------------------------------


def price(**kw) -> price_pb2.ModelPrice:
    base = {"provider": "openai", "model": "gpt-4o", "input_per_mtok": 1, "output_per_mtok": 2}
    return price_pb2.ModelPrice(**{**base, **kw})


@pytest.mark.parametrize(
    "bad",
    [
        price(provider=""),
        price(provider="google"),
        price(model=""),
        price(model="a b"),
        price(input_per_mtok=-1),
        price(output_per_mtok=-1),
        price(cached_input_per_mtok=-1),
        price(cache_write_per_mtok=-5),
        price(reasoning_per_mtok=-1),
    ],
)
def test_price_validation_refuses(bad: price_pb2.ModelPrice) -> None:
    with pytest.raises(INVALID):
        prices.validate(bad)


@pytest.mark.parametrize("provider", [*prices.PROVIDER_KINDS, "*"])
def test_price_validation_accepts(provider: str) -> None:
    prices.validate(price(provider=provider, input_per_mtok=0, cached_input_per_mtok=0))


def test_price_names() -> None:
    assert str(prices.parse_price_name("prices/p1")) == "prices/p1"
    ws = prices.parse_price_name("workspaces/w/prices/p1")
    assert str(ws) == "workspaces/w/prices/p1"
    for bad in ("prices/", "prices/A", "workspaces/w/keys/k", "x/p", "prices/a/b"):
        with pytest.raises(INVALID):
            prices.parse_price_name(bad)


def test_default_prices_have_unique_valid_ids_and_round_trip() -> None:
    defaults = prices.default_prices(default_entries())
    names = [p.name for p in defaults]
    assert len(set(names)) == len(names) == len(default_entries())
    for p in defaults:
        parsed = prices.parse_price_name(p.name)
        assert parsed.resource_id.startswith("default-")
        prices.validate(p)
    assert "prices/default-openai-gpt-4o-mini-any" in names
    assert [prices.to_entry(p) for p in defaults] == default_entries()


def test_catalog_version_names_exactly_the_prices_in_play() -> None:
    from oggy.contract.default_prices import DEFAULT_CATALOG_VERSION
    from oggy.contract.price_book import catalog_version

    a = price(name="prices/a", input_per_mtok=1, output_per_mtok=1, etag="3")
    b = price(name="prices/b", input_per_mtok=2, output_per_mtok=2, etag="9")
    assert catalog_version([]) == DEFAULT_CATALOG_VERSION
    assert catalog_version([a, b]) == catalog_version([b, a])  # order-free
    assert catalog_version([a]) != catalog_version([a, b])  # a delete changes it
    moved = price(name="prices/a", input_per_mtok=1, output_per_mtok=1, etag="12")
    assert catalog_version([moved]) == catalog_version([a])  # etags are not content
    override = price(name="workspaces/w/prices/o", input_per_mtok=1, output_per_mtok=1)
    assert catalog_version([a], [override]).startswith(catalog_version([a]) + "+w-")


def test_estimate_override_wins_and_no_price_is_not_found() -> None:
    catalog = [price(name="prices/a", input_per_mtok=2_500_000, output_per_mtok=10_000_000)]
    override = [
        price(name="workspaces/w/prices/o", input_per_mtok=1_000_000, output_per_mtok=1_000_000)
    ]
    tokens = TokenCounts(input=1000, output=500)
    kw = {"provider": "openai", "model": "gpt-4o", "at": 10, "tokens": tokens, "version": "v"}
    base = prices.estimate(catalog, [], **kw)
    assert base.cost.micro_usd == 2500 + 5000 and base.price.name == "prices/a"
    over = prices.estimate(catalog, override, **kw)
    assert over.cost.micro_usd == 1500 and over.price.name == "workspaces/w/prices/o"
    # Empty provider tries every kind.
    assert prices.estimate(catalog, [], **{**kw, "provider": ""}).cost.micro_usd == 7500
    with pytest.raises(NotFound):
        prices.estimate(catalog, override, **{**kw, "model": "claude-x"})
    with pytest.raises(NotFound):  # not yet in effect
        prices.estimate([price(effective_time=Timestamp(seconds=100))], [], **{**kw, "at": 50})


def test_token_counts_validation() -> None:
    with pytest.raises(INVALID):
        prices.token_counts(input=-1, output=0, cached_input=0, cache_write=0, reasoning=0)
    with pytest.raises(INVALID):
        prices.token_counts(input=0, output=1, cached_input=0, cache_write=0, reasoning=2)


def test_in_force_and_scheduled_drops_superseded_history() -> None:
    old = price(name="prices/old", effective_time=Timestamp(seconds=10))
    now = price(name="prices/now", effective_time=Timestamp(seconds=20))
    later = price(name="prices/later", effective_time=Timestamp(seconds=99))
    other = price(name="prices/other", model="o3", effective_time=Timestamp(seconds=5))
    kept = prices.in_force_and_scheduled([old, now, later, other], at=50)
    assert [p.name for p in kept] == ["prices/now", "prices/later", "prices/other"]


# --- audit -------------------------------------------------------------------------------


def test_token_principal_is_a_fingerprint() -> None:
    principal = audit.token_principal(b"super-secret-admin-token")
    assert principal.startswith("admin-token:") and len(principal) == len("admin-token:") + 12
    assert "super-secret" not in principal


def test_audit_ids_sort_by_time() -> None:
    clock = iter([1000, 1000, 1000, 2000])
    ids = audit.AuditIds(lambda: next(clock))
    made = [ids() for _ in range(4)]
    assert made == sorted(made) and len(set(made)) == 4 and all(len(i) == 32 for i in made)


def test_newest_first_pages() -> None:
    items = [f"{i:03d}" for i in range(7)]
    page, token = audit.paginate_newest_first(items, str, "s", 3, "")
    assert page == ["006", "005", "004"] and token
    page, token = audit.paginate_newest_first(items, str, "s", 3, token)
    assert page == ["003", "002", "001"]
    page, token = audit.paginate_newest_first(items, str, "s", 3, token)
    assert page == ["000"] and token == ""
    with pytest.raises(INVALID):
        audit.paginate_newest_first(items, str, "other", 3, audit.paging.encode_token("s", "003"))
