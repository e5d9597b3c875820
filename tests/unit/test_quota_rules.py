"""compile/quota.py: limits and budgets → QuotaRules (scope matching, members, windows)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf.duration_pb2 import Duration

from oggy.contract.compile import ConfigError
from oggy.contract.compile.quota import (
    DEFAULT_THRESHOLDS,
    Metric,
    Mode,
    Per,
    QuotaRules,
    compile_budget,
    compile_limit,
    compile_quota_rules,
)
from oggy.contract.identity import Attribution
from oggy.contract.windows import Period
from oggy.v1 import budget_pb2, limit_pb2, scope_pb2

W = "workspaces/w"
L = limit_pb2.Limit
B = budget_pb2.Budget
S = scope_pb2.Scope
ML = f"{W}/actors/ml"
ALICE = f"{W}/actors/alice"
BOB = f"{W}/actors/bob"
KEY = f"{W}/keys/k1"
OPENAI = f"{W}/providers/openai"
ALICE_IN_ML = Attribution(actor=ALICE, team=ML, app="bot", environment="prod", workflow="etl")


def limit(scope: S | None = None, **kw: object) -> L:
    fields = {"metric": L.METRIC_REQUESTS, "capacity": 10, **kw}
    return L(name=f"{W}/limits/l", scope=scope or S(), **fields)


def budget(scope: S | None = None, **kw: object) -> B:
    fields = {
        "amount_micro_usd": 1_000_000,
        "period": B.PERIOD_MONTH,
        "enforcement": B.ENFORCEMENT_HARD,
        **kw,
    }
    return B(name=f"{W}/budgets/b", scope=scope or S(), **fields)


# (scope, who, key, model, provider, matches)
MATCHING = [
    pytest.param(S(), Attribution(), "", "any", "", True, id="empty scope: whole workspace"),
    pytest.param(S(team="ml"), ALICE_IN_ML, KEY, "gpt-4o", OPENAI, True, id="team by id"),
    pytest.param(S(team=ML), ALICE_IN_ML, KEY, "gpt-4o", OPENAI, True, id="team by name"),
    pytest.param(S(team="ml"), Attribution(actor=BOB), KEY, "gpt-4o", "", False, id="no team"),
    pytest.param(
        S(team="ml", model="gpt-4o*"), ALICE_IN_ML, KEY, "gpt-4o-mini", "", True, id="team x model"
    ),
    pytest.param(
        S(team="ml", model="gpt-4o*"), ALICE_IN_ML, KEY, "o3", "", False, id="team x other model"
    ),
    pytest.param(
        S(team="ml", model="gpt-4o*"),
        Attribution(actor=BOB),
        KEY,
        "gpt-4o",
        "",
        False,
        id="model x other team",
    ),
    pytest.param(S(model="gpt-4o"), ALICE_IN_ML, KEY, "gpt-4o-mini", "", False, id="exact model"),
    pytest.param(S(actor="alice"), ALICE_IN_ML, KEY, "m", "", True, id="actor"),
    pytest.param(S(actor="bob"), ALICE_IN_ML, KEY, "m", "", False, id="other actor"),
    pytest.param(S(key="k1"), Attribution(), KEY, "m", "", True, id="key by id"),
    pytest.param(S(key=KEY), Attribution(), f"{W}/keys/k2", "m", "", False, id="other key"),
    pytest.param(S(provider="openai"), Attribution(), KEY, "m", OPENAI, True, id="provider"),
    pytest.param(
        S(provider="openai"), Attribution(), KEY, "m", f"{W}/providers/x", False, id="other prov"
    ),
    pytest.param(
        S(app="bot", environment="prod", workflow="etl"),
        ALICE_IN_ML,
        KEY,
        "m",
        "",
        True,
        id="labels",
    ),
    pytest.param(
        S(app="bot", environment="dev"), ALICE_IN_ML, KEY, "m", "", False, id="env differs"
    ),
]


@pytest.mark.parametrize(("scope", "who", "key", "model", "provider", "matches"), MATCHING)
def test_scope_matching(
    scope: S, who: Attribution, key: str, model: str, provider: str, matches: bool
) -> None:
    rule = compile_limit(W, limit(scope))
    assert rule.scope.matches(who, key, model, provider) is matches


def test_scope_ids_become_full_names() -> None:
    rule = compile_limit(W, limit(S(team="ml", actor="alice", key="k1", provider="openai")))
    s = rule.scope
    assert (s.team, s.actor, s.key, s.provider) == (ML, ALICE, KEY, OPENAI)


@pytest.mark.parametrize(
    ("per", "expected_per", "member"),
    [
        (scope_pb2.COUNTED_PER_UNSPECIFIED, Per.SCOPE, ""),
        (scope_pb2.COUNTED_PER_SCOPE, Per.SCOPE, ""),
        (scope_pb2.COUNTED_PER_ACTOR, Per.ACTOR, ALICE),
        (scope_pb2.COUNTED_PER_KEY, Per.KEY, KEY),
    ],
)
def test_member_of(per: int, expected_per: Per, member: str) -> None:
    for rule in (
        compile_limit(W, limit(S(team="ml"), counted_per=per)),
        compile_budget(W, budget(S(team="ml"), counted_per=per)),
    ):
        assert rule.per is expected_per
        assert rule.member_of(ALICE_IN_ML, KEY) == member


def test_each_member_of_a_team_has_a_counter_of_its_own() -> None:
    rule = compile_budget(W, budget(S(team="ml"), counted_per=scope_pb2.COUNTED_PER_ACTOR))
    bob_in_ml = Attribution(actor=BOB, team=ML)
    assert rule.member_of(ALICE_IN_ML, KEY) != rule.member_of(bob_in_ml, KEY)
    assert rule.describe() == "team ml (each actor)"


NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("body", "metric", "window_s", "start", "reset"),
    [
        (limit(), Metric.REQUESTS, 60, NOW - 26, NOW + 34),
        (limit(window=Duration(seconds=3600)), Metric.REQUESTS, 3600, NOW - 566, NOW + 3034),
        (limit(metric=L.METRIC_TOKENS, window=Duration(seconds=1)), Metric.TOKENS, 1, NOW, NOW + 1),
        (limit(metric=L.METRIC_CONCURRENT_REQUESTS), Metric.CONCURRENT, 0, 0, None),
    ],
)
def test_limit_windows(
    body: L, metric: Metric, window_s: int, start: float, reset: float | None
) -> None:
    rule = compile_limit(W, body)
    assert (rule.metric, rule.window_s) == (metric, window_s)
    assert rule.window(NOW) == (start, reset)
    assert not rule.is_budget and rule.enforces


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        (B.PERIOD_DAY, Period.DAY),
        (B.PERIOD_WEEK, Period.WEEK),
        (B.PERIOD_MONTH, Period.MONTH),
        (B.PERIOD_TOTAL, Period.TOTAL),
    ],
)
def test_budget_periods(period: int, expected: Period) -> None:
    rule = compile_budget(W, budget(period=period))
    assert rule.period is expected and rule.is_budget and rule.metric is Metric.SPEND
    assert rule.window_s == 0


@pytest.mark.parametrize(
    ("enforcement", "mode"),
    [
        (B.ENFORCEMENT_HARD, Mode.ENFORCE),
        (B.ENFORCEMENT_SOFT, Mode.SOFT),
        (B.ENFORCEMENT_SHADOW, Mode.SHADOW),
    ],
)
def test_budget_enforcement(enforcement: int, mode: Mode) -> None:
    assert compile_budget(W, budget(enforcement=enforcement)).mode is mode


def test_shadow_limit_never_enforces() -> None:
    assert compile_limit(W, limit(shadow=True)).mode is Mode.SHADOW


def test_thresholds_default_sorted_and_deduplicated() -> None:
    assert compile_budget(W, budget()).thresholds == DEFAULT_THRESHOLDS
    assert compile_budget(W, budget(threshold_percents=[90, 10, 90])).thresholds == (10, 90)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (limit(metric=0), "metric must be"),
        (limit(capacity=0), "capacity must be > 0"),
        (limit(capacity=-1), "capacity must be > 0"),
        (limit(window=Duration(seconds=0)), "window must be whole seconds"),
        (limit(window=Duration(seconds=86_401)), "window must be whole seconds"),
        (limit(window=Duration(seconds=1, nanos=1)), "window must be whole seconds"),
        (
            limit(metric=L.METRIC_CONCURRENT_REQUESTS, window=Duration(seconds=60)),
            "has no window",
        ),
        (limit(S(model="gpt-[4")), "scope.model"),
        (limit(S(team="workspaces/o/actors/ml")), "is not in workspaces/w"),
        (limit(S(key="Not An Id")), "scope.key"),
        (limit(counted_per=7), "unknown counted_per"),
        (budget(amount_micro_usd=0), "amount must be > 0"),
        (budget(period=0), "period must be"),
        (budget(enforcement=0), "enforcement must be"),
        (budget(threshold_percents=[0]), "thresholds must be 1 to 1000"),
        (budget(threshold_percents=[1001]), "thresholds must be 1 to 1000"),
        (budget(S(provider="workspaces/o/providers/p")), "is not in workspaces/w"),
    ],
)
def test_refusals_name_the_resource(body: L | B, message: str) -> None:
    compile_one = compile_limit if isinstance(body, L) else compile_budget
    with pytest.raises(ConfigError, match=message) as info:
        compile_one(W, body)  # type: ignore[operator]
    assert body.name in str(info.value)


def test_rules_apply_in_name_order_and_are_memoised() -> None:
    rules = compile_quota_rules(
        W,
        [
            L(name=f"{W}/limits/z-all", metric=L.METRIC_REQUESTS, capacity=1),
            L(
                name=f"{W}/limits/a-ml-4o",
                metric=L.METRIC_TOKENS,
                capacity=1,
                scope=S(team="ml", model="gpt-4o*"),
            ),
        ],
        [budget(S(actor="bob"))],
    )
    assert isinstance(rules, QuotaRules) and bool(rules)
    applying = rules.applying(ALICE_IN_ML, KEY, "gpt-4o", OPENAI)
    assert [r.name for r in applying] == [f"{W}/limits/a-ml-4o", f"{W}/limits/z-all"]
    assert rules.applying(ALICE_IN_ML, KEY, "gpt-4o", OPENAI) is applying
    bob = rules.applying(Attribution(actor=BOB), KEY, "o3", "")
    assert [r.name for r in bob] == [f"{W}/budgets/b", f"{W}/limits/z-all"]
    assert set(rules.by_name()) == {f"{W}/limits/z-all", f"{W}/limits/a-ml-4o", f"{W}/budgets/b"}
    assert not compile_quota_rules(W, [], [])
