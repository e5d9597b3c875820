"""Globs, effective-policy merging and decisions, model routing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oggy.contract.globs import GlobError, compile_globs, validate_glob
from oggy.contract.policy import (
    ALLOW,
    Allow,
    Deny,
    PolicyError,
    client_ip,
    compile_effective,
    parse_networks,
)
from oggy.contract.routing import ROUTE_CACHE_SIZE, Router
from oggy.v1 import policy_pb2


@pytest.mark.parametrize(
    "glob", ["", "gpt 4", "gpt-[4", "a[[b]]", "x[]", "é", "a" * 300, "a;b", "m$"]
)
def test_bad_globs(glob: str) -> None:
    with pytest.raises(GlobError):
        validate_glob(glob)


@pytest.mark.parametrize(
    ("globs", "model", "matches"),
    [
        (["gpt-4o*"], "gpt-4o-mini", True),
        (["gpt-4o*"], "gpt-4", False),
        (["gpt-4o"], "gpt-4o-mini", False),  # whole-name match
        (["llama[23]*"], "llama3-8b", True),
        (["llama[!3]*"], "llama3-8b", False),
        (["?pt"], "gpt", True),
        (["meta-llama/*"], "meta-llama/Llama-3", True),
        (["a", "b*"], "bee", True),
        (["GPT*"], "gpt-4o", False),  # case-sensitive
    ],
)
def test_glob_matching(globs: list[str], model: str, matches: bool) -> None:
    pattern = compile_globs(globs)
    assert pattern is not None
    assert bool(pattern.match(model)) is matches


def P(name: str = "p", **kw: object) -> policy_pb2.Policy:
    return policy_pb2.Policy(name=f"workspaces/w/policies/{name}", **kw)


@pytest.mark.parametrize(
    ("policies", "model", "allowed"),
    [
        ([], "anything", True),
        ([P(allowed_models=["gpt-*"])], "gpt-4o", True),
        ([P(allowed_models=["gpt-*"])], "claude-3", False),
        ([P(denied_models=["*-preview"])], "gpt-4o-preview", False),
        # Allowlists intersect: most restrictive wins.
        (
            [P("a", allowed_models=["gpt-*"]), P("b", allowed_models=["*-mini"])],
            "gpt-4o-mini",
            True,
        ),
        ([P("a", allowed_models=["gpt-*"]), P("b", allowed_models=["*-mini"])], "gpt-4o", False),
        # A deny beats any allow.
        ([P("a", allowed_models=["*"]), P("b", denied_models=["gpt-4o"])], "gpt-4o", False),
    ],
)
def test_model_decision(policies: list[policy_pb2.Policy], model: str, allowed: bool) -> None:
    decision = compile_effective(policies).check_model(model)
    assert isinstance(decision, Allow) is allowed
    if not allowed:
        assert isinstance(decision, Deny)
        assert (decision.reason, decision.status) == ("model_not_allowed", 403)
        assert decision.error().code == "model_not_allowed"


def test_shadow_policy_reports_but_allows() -> None:
    eff = compile_effective([P("s", denied_models=["gpt-4o"], shadow=True)])
    assert eff.check_model("gpt-4o") == Allow(shadow_reason="model_not_allowed")
    assert eff.check_model("gpt-4") is ALLOW


def test_model_decisions_are_memoised_and_bounded() -> None:
    eff = compile_effective([P(allowed_models=["a*"])])
    first = eff.check_model("abc")
    assert eff.check_model("abc") is first
    for i in range(5000):
        eff.check_model(f"a{i}")
    assert len(eff._models) <= 1024


def test_ip_and_max_tokens() -> None:
    eff = compile_effective(
        [
            P("a", allowed_cidrs=["10.0.0.0/8", "::1/128"], max_output_tokens=100),
            P("b", allowed_cidrs=["10.1.0.0/16"], max_output_tokens=50),
        ]
    )
    assert eff.check_ip("10.1.2.3") is ALLOW
    assert isinstance(eff.check_ip("10.2.0.1"), Deny)  # not in both lists
    assert isinstance(eff.check_ip("not-an-ip"), Deny)
    assert eff.check_max_tokens(50) is ALLOW and eff.check_max_tokens(None) is ALLOW
    denied = eff.check_max_tokens(51)
    assert isinstance(denied, Deny) and denied.status == 400
    assert compile_effective([]).check_ip("1.2.3.4") is ALLOW


@pytest.mark.parametrize(
    "policy",
    [
        P(allowed_models=["gpt 4"]),
        P(denied_models=["["]),
        P(allowed_cidrs=["10.0.0.0/33"]),
        P(trusted_proxy_cidrs=["nope"]),
        P(max_output_tokens=-1),
    ],
)
def test_invalid_policies(policy: policy_pb2.Policy) -> None:
    with pytest.raises((PolicyError, GlobError)):
        compile_effective([policy])


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("10.0.0.1", "1.2.3.4", "1.2.3.4"),  # trusted proxy
        ("8.8.8.8", "1.2.3.4", "8.8.8.8"),  # untrusted peer: header ignored
        ("10.0.0.1", "1.2.3.4, 10.0.0.2", "1.2.3.4"),  # walk past trusted hops
        ("10.0.0.1", "9.9.9.9, 1.2.3.4", "1.2.3.4"),  # rightmost untrusted wins
        ("10.0.0.1", "garbage", "10.0.0.1"),
        ("10.0.0.1", None, "10.0.0.1"),
    ],
)
def test_client_ip(peer: str, xff: str | None, expected: str) -> None:
    trusted = parse_networks(["10.0.0.0/8"], "test")
    assert client_ip(peer, xff, trusted) == expected


def test_router_exact_beats_glob_and_order_breaks_ties() -> None:
    router = Router.build([(["gpt-*"], "a"), (["gpt-4o", "gpt-*"], "b"), (["*"], "c")])
    assert router.route("gpt-4o") == "b"
    assert router.route("gpt-4") == "a"
    assert router.route("claude") == "c"
    assert Router.build([(["gpt-*"], "a")]).route("claude") is None


@given(
    st.lists(st.text(alphabet="abc-*?", min_size=1, max_size=6), max_size=5), st.text(max_size=8)
)
def test_router_is_memoised_consistently(globs: list[str], model: str) -> None:
    try:
        router = Router.build([(globs, "p")])
    except GlobError:
        return
    first = router.route(model)
    assert router.route(model) == first
    pattern = compile_globs([g for g in globs if g])
    assert (first == "p") == bool(pattern is not None and pattern.match(model))


def test_route_cache_is_bounded() -> None:
    router = Router.build([(["m-*"], "p")])
    for i in range(ROUTE_CACHE_SIZE + 100):
        router.route(f"m-{i}")
    assert len(router._cache) == ROUTE_CACHE_SIZE
