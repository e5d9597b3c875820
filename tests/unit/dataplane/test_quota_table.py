"""The quota table: admission against leases, settlement, reports, fallback. No event loop,
fixed clock."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from dataplane.quota.table import QuotaTable
from oggy.contract.compile.quota import Metric, Mode, Per, QuotaRule, Scope
from oggy.contract.windows import Period
from oggy.v1 import quota_service_pb2 as q

WS = "workspaces/acme"
T0 = 1_800_000_000.0  # on a minute boundary (1_800_000_000 % 60 == 0)


def rule(
    metric: Metric = Metric.REQUESTS,
    capacity: int = 10,
    *,
    name: str = "rpm",
    per: Per = Per.SCOPE,
    mode: Mode = Mode.ENFORCE,
) -> QuotaRule:
    if metric is Metric.SPEND:
        kind, window_s, period = "budgets", 0, Period.DAY
    else:
        kind, period = "limits", None
        window_s = 0 if metric is Metric.CONCURRENT else 60
    return QuotaRule(
        name=f"{WS}/{kind}/{name}",
        metric=metric,
        capacity=capacity,
        scope=Scope(),
        per=per,
        mode=mode,
        window_s=window_s,
        period=period,
    )


def lease(r: QuotaRule, granted: int, start: int, member: str = "", everywhere: int = 0):
    return q.QuotaLease(
        counter=q.QuotaCounter(rule=r.name, member=member, window_start=start),
        granted=granted,
        expire_time=Timestamp(seconds=int(T0) + 3),
        used_everywhere=everywhere,
    )


def leased(*grants: tuple[QuotaRule, int], now: float = T0, n: int = 1) -> QuotaTable:
    table = QuotaTable()
    table.sync([r for r, _ in grants])
    starts = [r.window(now).start for r, _ in grants]
    table.apply([lease(r, g, s) for (r, g), s in zip(grants, starts, strict=True)], n, now)
    return table


# ------------------------------------------------------------------ admission


def test_admits_up_to_held_then_refuses() -> None:
    r = rule(capacity=100)
    table = leased((r, 3))
    results = [table.acquire([(r, "", 1)], T0) for _ in range(4)]
    assert [res.blocked is None for res in results] == [True, True, True, False]
    assert results[3].blocked is not None and results[3].blocked.plan.rule is r


def test_a_spent_budget_refuses_even_what_reserves_nothing() -> None:
    # A pass-through reserves $0 and settles afterwards: once the budget is spent, it
    # is refused too (it needs room for one micro-dollar), and never waits for a lease.
    budget = rule(Metric.SPEND, 1000, name="hard")
    table = leased((budget, 1000))
    res = table.acquire([(budget, "", 0)], T0)
    assert res.blocked is None
    table.settle(res, None, 1000)
    spent = table.acquire([(budget, "", 0)], T0)
    assert spent.blocked is not None
    assert not table.worth_waiting(spent, T0)


def test_all_or_nothing_across_rules() -> None:
    rpm, tpm = rule(capacity=100), rule(Metric.TOKENS, 1000, name="tpm")
    table = leased((rpm, 10), (tpm, 50))
    res = table.acquire([(rpm, "", 1), (tpm, "", 60)], T0)
    assert res.blocked is not None and res.blocked.plan.rule is tpm
    rpm_counter = res.parts[0][0]
    assert rpm_counter.used == 0  # the request rule counted nothing either
    ok = table.acquire([(rpm, "", 1), (tpm, "", 50)], T0)
    assert ok.blocked is None and [c.used for c, _ in ok.parts] == [1, 50]


def test_shadow_never_blocks_but_says_so() -> None:
    shadow = rule(capacity=1, mode=Mode.SHADOW)
    table = leased((shadow, 1))
    assert table.acquire([(shadow, "", 1)], T0).shadow is None
    res = table.acquire([(shadow, "", 1)], T0)
    assert res.blocked is None and res.shadow is not None
    assert res.parts[0][0].used == 2


def test_soft_budget_never_blocks() -> None:
    soft = rule(Metric.SPEND, 100, name="soft", mode=Mode.SOFT)
    table = leased((soft, 100))
    res = table.acquire([(soft, "", 500)], T0)
    assert res.blocked is None and res.shadow is None and res.parts[0][0].used == 500


def test_settle_moves_tokens_and_spend_to_actual_in_the_reserved_window() -> None:
    tpm, budget = rule(Metric.TOKENS, 10_000, name="tpm"), rule(Metric.SPEND, 10**6, name="b")
    table = leased((tpm, 10_000), (budget, 10**6))
    res = table.acquire([(tpm, "", 5000), (budget, "", 900)], T0)
    later = T0 + 70  # the next minute: settlement still lands in the first one
    table.acquire([(tpm, "", 0)], later)
    table.settle(res, tokens=1200, spend=300, event_id="e1")
    tpm_counter, budget_counter = (c for c, _ in res.parts)
    assert (tpm_counter.start, tpm_counter.used) == (int(T0), 1200)
    assert budget_counter.used == 300
    table.settle(res, tokens=1, spend=1, event_id="e1")  # a second settle changes nothing
    assert tpm_counter.used == 1200


def test_concurrency_is_released_on_settle_and_release() -> None:
    conc = rule(Metric.CONCURRENT, 2, name="conc")
    table = leased((conc, 2))
    a = table.acquire([(conc, "", 1)], T0)
    b = table.acquire([(conc, "", 1)], T0)
    assert table.acquire([(conc, "", 1)], T0).blocked is not None
    table.release(a)
    table.settle(b, None, None)
    assert a.parts[0][0].used == 0
    assert table.acquire([(conc, "", 1)], T0).blocked is None


def test_acknowledged_spend_counts_once_acked() -> None:
    budget = rule(Metric.SPEND, 10**6, name="b")
    table = leased((budget, 10**6))
    res = table.acquire([(budget, "", 100)], T0)
    table.settle(res, None, 80, event_id="ev")
    c = res.parts[0][0]
    assert c.acknowledged == 0
    table.acknowledged(["other", "ev"])
    table.acknowledged(["ev"])
    assert c.acknowledged == 80
    [report] = table.report(T0)
    assert (report.used, report.acknowledged) == (80, 80)


@settings(max_examples=200, deadline=None)
@given(
    granted=st.integers(0, 50),
    costs=st.lists(st.tuples(st.integers(0, 20), st.integers(0, 30), st.booleans()), max_size=60),
)
def test_never_admits_beyond_held_and_settle_keeps_used_consistent(
    granted: int, costs: list[tuple[int, int, bool]]
) -> None:
    tpm = rule(Metric.TOKENS, 10_000, name="tpm")
    table = leased((tpm, granted))
    open_: list[tuple[object, int]] = []
    expected = 0
    for cost, actual, settle_now in costs:
        res = table.acquire([(tpm, "", cost)], T0)
        c = res.parts[0][0]
        if res.blocked is None:
            expected += cost
            open_.append((res, actual))
            # Admission alone never takes a counter past what it holds.
            assert c.used <= c.held == granted
        if settle_now and open_:
            done, actual_tokens = open_.pop(0)
            table.settle(done, actual_tokens, None)  # type: ignore[arg-type]
            expected += actual_tokens - done.parts[0][1]  # type: ignore[attr-defined]
        assert c.used == expected


# ------------------------------------------------------------------ fallback


def test_never_leased_admits_nothing_shared_and_capacity_per_member() -> None:
    shared, per_key = rule(capacity=5), rule(capacity=5, name="perkey", per=Per.KEY)
    table = QuotaTable()
    table.sync([shared, per_key])
    assert table.acquire([(shared, "", 1)], T0).blocked is not None
    results = [table.acquire([(per_key, "k1", 1)], T0) for _ in range(6)]
    assert [r.blocked is None for r in results] == [True] * 5 + [False]


def test_connected_member_without_lease_gets_initial_allowance() -> None:
    shared, per_key = rule(capacity=100), rule(capacity=9, name="perkey", per=Per.KEY)
    table = leased((shared, 10), n=3)
    table.sync([shared, per_key])
    results = [table.acquire([(per_key, "k1", 1)], T0) for _ in range(4)]
    assert [r.blocked is None for r in results] == [True, True, True, False]  # 9 // 3


@given(capacity=st.integers(1, 10_000), n=st.integers(1, 50))
def test_fallback_share_for_unleased_windows_and_held_for_leased(capacity: int, n: int) -> None:
    r = rule(capacity=capacity)
    table = leased((r, capacity), n=n)  # the whole capacity leased for the first minute
    expired = T0 + 10  # lease ttl 3 s: fallback, same window
    assert table.fallback_active(expired)
    admitted = sum(table.acquire([(r, "", 1)], expired).blocked is None for _ in range(capacity))
    assert admitted == capacity  # a leased window keeps what it holds
    next_minute = T0 + 60
    shares = [table.acquire([(r, "", 1)], next_minute) for _ in range(capacity + 1)]
    assert sum(s.blocked is None for s in shares) == capacity // n


def test_connected_shared_counter_without_lease_waits_for_it_and_reports_early() -> None:
    r = rule(capacity=100)
    early: list[int] = []
    table = leased((r, 10))
    table.notify = lambda: early.append(1)
    next_minute = T0 + 61
    table.apply([], 1, T0 + 60.5)  # still connected, no lease for the new window yet
    assert table.acquire([(r, "", 1)], next_minute).blocked is not None
    assert early == [1]


# ------------------------------------------------------------------ reports and leases


def test_report_lists_shared_counters_next_window_and_used_members() -> None:
    shared = rule(capacity=100)
    per_actor = rule(capacity=100, name="peractor", per=Per.ACTOR)
    table = leased((shared, 10))
    table.sync([shared, per_actor])
    table.acquire([(shared, "", 1), (per_actor, "alice", 1)], T0)
    reports = {(r.counter.rule, r.counter.member, r.counter.window_start) for r in table.report(T0)}
    assert reports == {(shared.name, "", int(T0)), (per_actor.name, "alice", int(T0))}
    late = T0 + 50  # less than 20 % of the minute left: the next window is reported too
    reports = {(r.counter.rule, r.counter.window_start) for r in table.report(late)}
    assert (shared.name, int(T0) + 60) in reports


def test_wants_projects_demand_and_release_lowers_held() -> None:
    r = rule(capacity=10_000)
    table = leased((r, 1000))
    for i in range(20):  # 20 requests over the last second
        table.acquire([(r, "", 1)], T0 + 0.05 * i)
    [report] = table.report(T0 + 1)
    # 20 per 2 s = 10/s over min(59 s left, 10 s) = 100, plus the 20 used.
    assert (report.used, report.wants) == (20, 120)
    assert report.held == 120  # held 1000 > wants: released down to wants


def test_lease_sets_held_to_max_used_granted_and_ignores_past_windows() -> None:
    r = rule(capacity=100)
    table = leased((r, 5))
    for _ in range(5):
        table.acquire([(r, "", 1)], T0)
    table.apply([lease(r, 2, int(T0))], 1, T0)
    [c] = table.current(T0)
    assert c.held == 5  # never below used
    table.apply([lease(r, 50, int(T0) - 60)], 1, T0)
    assert c.held == 5


def test_remaining_uses_everywhere_adjusted_by_local_use() -> None:
    r = rule(capacity=100)
    table = leased((r, 50))
    table.acquire([(r, "", 1)], T0)
    table.report(T0)  # reported used 1
    table.apply([lease(r, 50, int(T0), everywhere=40)], 2, T0)
    res = table.acquire([(r, "", 1)], T0)
    assert res.parts[0][0].remaining() == 100 - 40 - 1
