"""Policy merge for providers, max tokens (CAP/REJECT), identity permissions, shadow; properties."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataplane.core.chat_request import prepare_chat
from oggy.contract import errors
from oggy.contract.policy import (
    ALLOW,
    POLICY_REASONS,
    Allow,
    Decision,
    Deny,
    EffectivePolicy,
    PolicyError,
    cap_max_tokens_fields,
    capped_max_tokens,
    compile_effective,
    labels_grant,
    permitted_targets,
)
from oggy.v1 import policy_pb2

Policy = policy_pb2.Policy
CAP = Policy.MAX_TOKENS_MODE_CAP
REJECT = Policy.MAX_TOKENS_MODE_REJECT
PA = "workspaces/w/providers/a"
PB = "workspaces/w/providers/b"
PC = "workspaces/w/providers/c"


def P(name: str = "p", **kw: Any) -> policy_pb2.Policy:
    return Policy(name=f"workspaces/w/policies/{name}", **kw)


# ------------------------------------------------------------------ providers


@pytest.mark.parametrize(
    ("policies", "provider", "allowed"),
    [
        ([], PA, True),
        ([P(allowed_providers=[PA])], PA, True),
        ([P(allowed_providers=[PA])], PB, False),
        ([P(allowed_providers=["a"])], PA, True),  # bare id, read within the workspace
        ([P("x", allowed_providers=[PA, PB]), P("y", allowed_providers=[PB, PC])], PB, True),
        ([P("x", allowed_providers=[PA, PB]), P("y", allowed_providers=[PB, PC])], PA, False),
        ([P("x", allowed_providers=[PA]), P("y", allowed_providers=[PB])], PA, False),
        ([P("x", allowed_providers=[PA]), P("y", allowed_providers=[PB])], PB, False),
        ([P("x", allowed_providers=[PA]), P("y", denied_models=["z"])], PA, True),
    ],
)
def test_check_provider(policies: list[Policy], provider: str, allowed: bool) -> None:
    decision = compile_effective(policies).check_provider(provider)
    assert isinstance(decision, Allow) is allowed
    if isinstance(decision, Deny):
        assert (decision.reason, decision.status) == ("provider_not_allowed", 403)
        err = decision.error()
        assert isinstance(err, errors.ProviderNotAllowed) and err.code == "provider_not_allowed"


def test_check_provider_is_memoised_and_shadowed() -> None:
    eff = compile_effective([P("s", allowed_providers=[PA], shadow=True)])
    assert eff.check_provider(PB) == Allow(shadow_reason="provider_not_allowed")
    assert eff.check_provider(PB) is eff.check_provider(PB)
    assert eff.check_provider(PA) is ALLOW


@pytest.mark.parametrize(
    "entry", ["workspaces/other/providers/a", "workspaces/w/keys/a", "A", "", "w/providers/"]
)
def test_bad_allowed_provider_entries(entry: str) -> None:
    with pytest.raises(PolicyError, match="allowed_providers"):
        compile_effective([P(allowed_providers=[entry])])


# ------------------------------------------------------------------ max tokens

DENY = "deny"


@pytest.mark.parametrize(
    ("policies", "requested", "outcome"),
    [
        ([], 10_000, 10_000),
        ([], None, None),
        # UNSPECIFIED mode and REJECT refuse over the bound (absent = not refused).
        ([P(max_output_tokens=100)], 100, 100),
        ([P(max_output_tokens=100)], 101, DENY),
        ([P(max_output_tokens=100)], None, None),
        ([P(max_output_tokens=100, max_tokens_mode=REJECT)], 101, DENY),
        # CAP lowers (or sets) the bound, never refuses.
        ([P(max_output_tokens=100, max_tokens_mode=CAP)], 5_000, 100),
        ([P(max_output_tokens=100, max_tokens_mode=CAP)], 50, 50),
        ([P(max_output_tokens=100, max_tokens_mode=CAP)], None, 100),
        # The smallest bound applies; CAP only if every bounding policy says CAP.
        (
            [
                P("a", max_output_tokens=100, max_tokens_mode=CAP),
                P("b", max_output_tokens=50, max_tokens_mode=CAP),
            ],
            80,
            50,
        ),
        (
            [
                P("a", max_output_tokens=500, max_tokens_mode=CAP),
                P("b", max_output_tokens=1000, max_tokens_mode=REJECT),
            ],
            800,
            DENY,
        ),
        (
            [
                P("a", max_output_tokens=500, max_tokens_mode=CAP),
                P("b", max_output_tokens=1000),
            ],
            400,
            400,
        ),
        # A mode on a policy without a bound changes nothing.
        ([P("a", max_output_tokens=100), P("b", max_tokens_mode=CAP)], 101, DENY),
        (
            [P("a", max_output_tokens=100, max_tokens_mode=CAP), P("b", max_tokens_mode=REJECT)],
            101,
            100,
        ),
    ],
)
def test_max_tokens_modes(policies: list[Policy], requested: int | None, outcome: object) -> None:
    eff = compile_effective(policies)
    decision = eff.check_max_tokens(requested)
    if outcome == DENY:
        assert isinstance(decision, Deny)
        assert (decision.reason, decision.status) == ("max_tokens_exceeded", 400)
    else:
        assert decision is ALLOW
        assert capped_max_tokens(requested, eff.max_tokens_cap) == outcome


@pytest.mark.parametrize(
    ("body", "fields", "cap", "after", "changed"),
    [
        (
            {"max_tokens": 500},
            ("max_completion_tokens", "max_tokens"),
            100,
            {"max_tokens": 100},
            True,
        ),
        (
            {"max_tokens": 50},
            ("max_completion_tokens", "max_tokens"),
            100,
            {"max_tokens": 50},
            False,
        ),
        (
            {"max_tokens": 500, "max_completion_tokens": 80},
            ("max_completion_tokens", "max_tokens"),
            100,
            {"max_tokens": 100, "max_completion_tokens": 80},
            True,
        ),
        ({}, ("max_completion_tokens", "max_tokens"), 100, {"max_completion_tokens": 100}, True),
        ({}, ("max_output_tokens",), 64, {"max_output_tokens": 64}, True),
        ({"max_tokens": 500}, ("max_tokens",), 0, {"max_tokens": 500}, False),
        ({}, (), 100, {}, False),
    ],
)
def test_cap_max_tokens_fields(
    body: dict, fields: tuple[str, ...], cap: int, after: dict, changed: bool
) -> None:
    assert cap_max_tokens_fields(body, fields, cap) is changed
    assert body == after


# ------------------------------------------------------------------ identity permissions


def test_identity_permissions_merge() -> None:
    eff = compile_effective(
        [
            P("a", actor_claim_overrides=["team"], allow_labels=True),
            P("b", actor_claim_overrides=["workflow", "environment"], allow_labels=True),
            P("s", actor_claim_overrides=["app"], shadow=True),
        ]
    )
    assert eff.claim_overrides == {"team", "workflow", "env"}  # shadow policies grant nothing
    assert eff.allow_labels
    # require/replay: anywhere means required.
    eff = compile_effective([P("a", replay_protection=True), P("b", require_actor_token=True)])
    assert eff.replay_protection and eff.require_actor_token
    assert isinstance(eff.check_actor_token(False), Deny)
    assert eff.check_actor_token(True) is ALLOW


ALLOW_, DENY_, UNSET = Policy.GRANT_ALLOW, Policy.GRANT_DENY, Policy.GRANT_UNSPECIFIED


@pytest.mark.parametrize(
    ("settings", "granted"),
    [
        ([], False),  # nothing says anything: the default, not granted
        ([UNSET, UNSET], False),
        ([ALLOW_], True),
        # A policy with no say does not take a grant away (it used to: AND).
        ([UNSET, ALLOW_], True),
        ([ALLOW_, UNSET, ALLOW_], True),
        # An explicit deny anywhere wins, whichever policy is more specific.
        ([DENY_, ALLOW_], False),
        ([ALLOW_, DENY_], False),
        ([UNSET, DENY_], False),
    ],
)
def test_record_labels_is_a_tri_state_grant(settings: list[int], granted: bool) -> None:
    ps = [P(f"p{i}", record_labels=g) for i, g in enumerate(settings)]
    assert compile_effective(ps).allow_labels is granted
    assert compile_effective(list(reversed(ps))).allow_labels is granted
    # Shadow policies have no say on what is recorded.
    shadow = P("s", record_labels=DENY_ if granted else ALLOW_, shadow=True)
    assert compile_effective([*ps, shadow]).allow_labels is granted


def test_a_workspace_policy_that_only_restricts_models_keeps_a_key_grant() -> None:
    workspace = P("ws", allowed_models=["gpt-4o*"])
    key = P("key", allow_labels=True)  # the deprecated bool: `true` reads as GRANT_ALLOW
    assert compile_effective([workspace, key]).allow_labels
    assert not compile_effective([workspace, P("key", allow_labels=False)]).allow_labels
    assert not compile_effective([P("ws", record_labels=DENY_), key]).allow_labels
    # record_labels decides when both are set.
    assert not compile_effective([P("key", allow_labels=True, record_labels=DENY_)]).allow_labels


def test_unknown_grant_value_does_not_compile() -> None:
    with pytest.raises(PolicyError, match="record_labels"):
        compile_effective([P(record_labels=7)])
    with pytest.raises(PolicyError, match="record_labels"):
        compile_effective([P(record_labels=7, shadow=True)])


@pytest.mark.parametrize("claim", ["sub", "actor", "Team", ""])
def test_bad_claim_overrides(claim: str) -> None:
    with pytest.raises(PolicyError, match="actor_claim_overrides"):
        compile_effective([P(actor_claim_overrides=[claim])])


def test_actor_token_required_decision() -> None:
    decision = compile_effective([P(require_actor_token=True)]).check_actor_token(False)
    assert isinstance(decision, Deny)
    assert (decision.reason, decision.status) == ("actor_token_required", 401)
    assert isinstance(decision.error(), errors.ActorTokenRequired)
    shadow = compile_effective([P(require_actor_token=True, shadow=True)])
    assert shadow.check_actor_token(False) == Allow(shadow_reason="actor_token_required")


def test_policy_reasons_are_the_blocking_codes() -> None:
    assert {
        "ip_not_allowed",
        "model_not_allowed",
        "actor_token_required",
        "actor_token_invalid",
        "key_revoked",
        "key_expired",
        "invalid_api_key",
        "provider_not_allowed",
        "max_tokens_exceeded",
        "actor_disabled",
        "rate_limited",
        "budget_exceeded",
        "model_unpriced",
    } == POLICY_REASONS


# ------------------------------------------------------------------ properties

GLOBS = ["gpt-*", "*-mini", "claude-*", "gpt-4o", "*", "llama?"]
CIDRS = ["10.0.0.0/8", "10.1.0.0/16", "192.168.0.0/16", "::1/128", "0.0.0.0/0"]
PROVIDERS = [PA, PB, PC, "a", "b"]


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    return Policy(
        allowed_models=draw(st.lists(st.sampled_from(GLOBS), max_size=2)),
        denied_models=draw(st.lists(st.sampled_from(GLOBS), max_size=1)),
        allowed_cidrs=draw(st.lists(st.sampled_from(CIDRS), max_size=2)),
        allowed_providers=draw(st.lists(st.sampled_from(PROVIDERS), max_size=2)),
        max_output_tokens=draw(st.sampled_from([0, 0, 100, 500, 1000])),
        max_tokens_mode=draw(st.sampled_from([0, CAP, REJECT])),
        require_actor_token=draw(st.booleans()),
        replay_protection=draw(st.booleans()),
        allow_labels=draw(st.booleans()),
        record_labels=draw(st.sampled_from([ALLOW_, DENY_, UNSET, UNSET])),
        actor_claim_overrides=draw(st.lists(st.sampled_from(["team", "app", "env"]), max_size=2)),
        shadow=draw(st.booleans()),
    )


@dataclass(frozen=True)
class Req:
    model: str
    ip: str
    provider: str
    max_tokens: int | None
    has_token: bool


requests = st.builds(
    Req,
    model=st.sampled_from(["gpt-4o", "gpt-4o-mini", "claude-3", "llama3", "o1"]),
    ip=st.sampled_from(["10.1.2.3", "10.2.0.1", "192.168.1.1", "8.8.8.8", "::1", "bad"]),
    provider=st.sampled_from([PA, PB, PC]),
    max_tokens=st.sampled_from([None, 50, 300, 800, 5000]),
    has_token=st.booleans(),
)


def named(ps: list[Policy]) -> list[Policy]:
    out = []
    for i, p in enumerate(ps):
        q = Policy()
        q.CopyFrom(p)
        q.name = f"workspaces/w/policies/p{i}"
        out.append(q)
    return out


def decide(eff: EffectivePolicy, req: Req) -> Decision:
    checks = (
        eff.check_ip(req.ip),
        eff.check_actor_token(req.has_token),
        eff.check_model(req.model),
        eff.check_provider(req.provider),
        eff.check_max_tokens(req.max_tokens),
    )
    for d in checks:
        if isinstance(d, Deny):
            return d
    return ALLOW


def forwarded_bound(eff: EffectivePolicy, req: Req) -> float:
    v = capped_max_tokens(req.max_tokens, eff.max_tokens_cap)
    return float("inf") if v is None else v


@settings(max_examples=250, deadline=None)
@given(st.lists(policies(), max_size=4), policies(), requests)
def test_adding_a_policy_never_loosens(base: list[Policy], extra: Policy, req: Req) -> None:
    before = compile_effective(named(base))
    after = compile_effective(named([*base, extra]))
    d0, d1 = decide(before, req), decide(after, req)
    if isinstance(d0, Deny):
        assert isinstance(d1, Deny)
    if isinstance(d1, Allow):
        assert forwarded_bound(after, req) <= forwarded_bound(before, req)
    # Requirements only ever get stricter. A grant changes only where the new policy
    # says so: it is refused after an explicit deny, granted only by an explicit allow.
    assert after.require_actor_token >= before.require_actor_token
    assert after.replay_protection >= before.replay_protection
    says = None if extra.shadow else labels_grant(extra)
    if says is None:
        assert after.allow_labels == before.allow_labels
    elif says is False:
        assert not after.allow_labels
    else:
        assert after.allow_labels >= before.allow_labels


@settings(max_examples=150, deadline=None)
@given(st.lists(policies(), max_size=4), st.lists(policies(), min_size=1, max_size=3), requests)
def test_shadow_policies_never_change_the_verdict(
    base: list[Policy], shadows: list[Policy], req: Req
) -> None:
    enforced = [p for p in base if not p.shadow]
    for s in shadows:
        s.shadow = True
    before = compile_effective(named(enforced))
    after = compile_effective(named([*enforced, *shadows]))
    d0, d1 = decide(before, req), decide(after, req)
    assert isinstance(d0, Deny) == isinstance(d1, Deny)
    if isinstance(d0, Deny):
        assert d0 == d1
    assert after.max_tokens_cap == before.max_tokens_cap
    assert after.claim_overrides == before.claim_overrides
    assert after.allow_labels == before.allow_labels


@settings(max_examples=100, deadline=None)
@given(st.lists(policies(), max_size=4), requests)
def test_policy_order_does_not_matter(ps: list[Policy], req: Req) -> None:
    a = compile_effective(named(ps))
    b = compile_effective(list(reversed(named(ps))))
    assert type(decide(a, req)) is type(decide(b, req))
    assert a.max_tokens_cap == b.max_tokens_cap
    assert a.allow_labels == b.allow_labels


# ------------------------------------------------------------------ call-site helpers


@pytest.mark.parametrize(
    ("policies", "targets", "kept", "outcome"),
    [
        ([], [PA, PB], [PA, PB], ""),
        ([P(allowed_providers=[PB])], [PA, PB], [PB], ""),  # fallback skips the disallowed
        ([P(allowed_providers=[PC])], [PA, PB], [], "provider_not_allowed"),
        ([P(allowed_providers=[PA], shadow=True)], [PB, PA], [PB, PA], "shadow"),
    ],
)
def test_permitted_targets(
    policies: list[Policy], targets: list[str], kept: list[str], outcome: str
) -> None:
    got, decision = permitted_targets(compile_effective(policies), targets, lambda t: t)
    assert list(got) == kept
    if outcome == "provider_not_allowed":
        assert isinstance(decision, Deny) and decision.reason == outcome
    elif outcome == "shadow":
        assert decision == Allow(shadow_reason="provider_not_allowed")
    else:
        assert decision is ALLOW


# (provider, model) targets of a route alias `fast` → a/gpt-4o, b/gpt-4o-mini.
FAST = [(PA, "gpt-4o"), (PB, "gpt-4o-mini")]


@pytest.mark.parametrize(
    ("policies", "kept", "upfront", "final"),
    [
        ([], FAST, "", ""),
        ([P(denied_models=["gpt-4o"])], FAST[1:], "", ""),  # the fallback serves alone
        ([P(allowed_models=["gpt-4o"])], FAST[:1], "", ""),
        # The alias's own name opens nothing.
        ([P(allowed_models=["fast"])], [], "model_not_allowed", "model_not_allowed"),
        ([P(denied_models=["gpt-4o*"])], [], "model_not_allowed", "model_not_allowed"),
        # A model is left, but only on a provider the policy refuses.
        ([P(denied_models=["gpt-4o"], allowed_providers=[PA])], [], "", "model_not_allowed"),
        ([P(denied_models=["gpt-4o"], shadow=True)], FAST, "shadow", "shadow"),
    ],
)
def test_an_alias_is_judged_by_the_models_it_resolves_to(
    policies: list[Policy], kept: list[tuple[str, str]], upfront: str, final: str
) -> None:
    """What the proxy does: check_any_model before routing, permitted_targets after."""

    def outcome(decision: Allow | Deny) -> str:
        if isinstance(decision, Deny):
            return decision.reason
        return "shadow" if decision.shadow_reason == "model_not_allowed" else ""

    policy = compile_effective(policies)
    assert outcome(policy.check_any_model([m for _, m in FAST])) == upfront
    got, decision = permitted_targets(policy, FAST, lambda t: t[0], lambda t: t[1])
    assert list(got) == kept
    assert outcome(decision) == final


def test_check_any_model_of_nothing_allows() -> None:
    assert compile_effective([P(allowed_models=["x"])]).check_any_model([]) is ALLOW


def _chat(**fields: Any) -> bytes:
    return orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}], **fields})


@pytest.mark.parametrize(
    ("fields", "forwarded", "bound"),
    [
        ({"max_tokens": 900}, {"max_tokens": 100}, 100),
        ({"max_completion_tokens": 900}, {"max_completion_tokens": 100}, 100),
        ({}, {"max_completion_tokens": 100}, 100),
        ({"max_tokens": 20}, {"max_tokens": 20}, 20),
    ],
)
def test_prepare_chat_applies_a_cap(fields: dict, forwarded: dict, bound: int) -> None:
    eff = compile_effective([P(max_output_tokens=100, max_tokens_mode=CAP)])
    req = prepare_chat(_chat(**fields), max_tokens_cap=eff.max_tokens_cap)
    body = orjson.loads(req.payload)
    assert {k: body[k] for k in forwarded} == forwarded
    assert req.max_output_tokens == bound
    assert eff.check_max_tokens(req.max_output_tokens) is ALLOW


def test_prepare_chat_still_validates_before_capping() -> None:
    with pytest.raises(errors.InvalidRequest):
        prepare_chat(_chat(max_tokens="lots"), max_tokens_cap=100)
    # No cap: the body goes up byte for byte.
    raw = _chat(max_tokens=900)
    assert prepare_chat(raw).payload is raw


def test_a_reject_bound_merged_with_a_cap_still_bounds_a_request_that_names_none() -> None:
    # Found by test_adding_a_policy_never_loosens: CAP 100 alone sends a request without
    # max_tokens up with 100; adding REJECT 100 once let it through unbounded.
    cap = Policy(max_output_tokens=100, max_tokens_mode=Policy.MAX_TOKENS_MODE_CAP)
    reject = Policy(max_output_tokens=100)
    merged = compile_effective(named([cap, reject]))
    assert merged.max_tokens_cap == 100  # an unbounded request gets the bound
    assert isinstance(merged.check_max_tokens(500), Deny)  # over it is still refused
    req = prepare_chat(
        orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        max_tokens_cap=merged.max_tokens_cap,
    )
    assert req.max_output_tokens == 100 and req.requested_max_output_tokens is None
    over = prepare_chat(
        orjson.dumps(
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 500}
        ),
        max_tokens_cap=merged.max_tokens_cap,
    )
    # Judged on what the client asked for, not on the lowered value.
    assert over.requested_max_output_tokens == 500
    assert isinstance(merged.check_max_tokens(over.requested_max_output_tokens), Deny)
