"""The allocator's arithmetic (protocol items 6, 7, 10, 13) with a fixed clock."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.quota.allocator import (
    HANDOVER_LEASE_TTLS,
    Allocator,
    Counter,
    Report,
    SpendRead,
    water_fill,
)
from oggy.contract.compile.quota import Metric, Mode, Per, QuotaRule, Scope
from oggy.contract.windows import Period

T0 = 1_700_000_040.0  # on a minute boundary
W = int(T0 // 60 * 60)
LIMIT = "workspaces/acme/limits/rpm"
BUDGET = "workspaces/acme/budgets/monthly"
TTL = 3.0


def limit(capacity: int = 1000) -> QuotaRule:
    return QuotaRule(LIMIT, Metric.REQUESTS, capacity, Scope(), Per.SCOPE, Mode.ENFORCE, 60)


def budget(capacity: int = 1000) -> QuotaRule:
    return QuotaRule(
        BUDGET, Metric.SPEND, capacity, Scope(), Per.SCOPE, Mode.ENFORCE, period=Period.TOTAL
    )


C = Counter(LIMIT, "", W)


def settled(start: float = T0) -> Allocator:
    """An allocator past its hand-over period at `start`."""
    return Allocator(start - (HANDOVER_LEASE_TTLS + 1) * TTL, lease_ttl=TTL)


class FakeNode:
    """A data plane following the protocol: holds max(used, granted), releases to wants."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.used = self.held = self.applied = 0
        self.pending: list[tuple[int, int]] = []

    def report(self, alloc: Allocator, now: float, wants: int, seq: int, rules) -> int:
        # Apply what arrived, then release, then report.
        for s, granted in self.pending:
            self.held = max(self.used, granted)
            self.applied = s
        self.pending = []
        self.held = max(self.used, min(self.held, max(self.used, wants)))
        alloc.report(self.name, now, self.applied, [Report(C, self.used, self.held, wants)])
        (lease,) = alloc.allocate(self.name, now, seq, rules)
        self.pending.append((seq, lease.granted))
        return lease.granted


def test_even_demand_on_four_nodes_splits_evenly() -> None:
    alloc, rules = settled(), {LIMIT: limit(1000)}
    nodes = [FakeNode(f"dp{i}") for i in range(4)]
    for n in nodes:  # connected (first message), no counter yet
        alloc.report(n.name, T0 - 1, 0, [])
    granted: dict[str, int] = {}
    for rnd in range(5):
        for i, n in enumerate(nodes):
            granted[n.name] = n.report(alloc, T0 + rnd * 0.5, 1000, rnd * 10 + i + 1, rules)
    assert sum(granted.values()) <= 1000
    for g in granted.values():
        assert 230 <= g <= 270


def test_demand_moving_to_one_node_follows_after_release() -> None:
    alloc, rules = settled(), {LIMIT: limit(1000)}
    nodes = [FakeNode(f"dp{i}") for i in range(4)]
    seq = 0
    for rnd in range(3):
        for n in nodes:
            seq += 1
            n.report(alloc, T0 + rnd * 0.5, 1000, seq, rules)
    last = 0
    for rnd in range(3, 10):
        for i, n in enumerate(nodes):
            seq += 1
            got = n.report(alloc, T0 + rnd * 0.5, 1000 if i == 0 else 0, seq, rules)
            if i == 0:
                last = got
    assert last >= 900


def test_grant_follows_wants_and_a_lowered_grant_stays_counted_until_applied() -> None:
    alloc, rules = settled(), {LIMIT: limit(1000)}
    alloc.report("a", T0, 0, [Report(C, 0, 0, 100)])
    (lease,) = alloc.allocate("a", T0, 1, rules)
    assert lease.granted == 100
    # Its demand fell: the grant follows it down (never below what it used) ...
    alloc.report("a", T0 + 0.5, 0, [Report(C, 10, 0, 50)])
    (lease,) = alloc.allocate("a", T0 + 0.5, 2, rules)
    assert lease.granted == 50
    assert lease.expire_time == T0 + 0.5 + TTL
    assert lease.used_everywhere == 10
    # ... but until it says it applied the grants (applied_sequence 0), 100 stays
    # committed: another node gets at most 900.
    alloc.report("b", T0 + 0.5, 0, [Report(C, 0, 0, 2000)])
    (lease,) = alloc.allocate("b", T0 + 0.5, 1, rules)
    assert lease.granted == 900


def test_a_node_over_its_fair_share_is_lowered_when_another_wants_more() -> None:
    alloc, rules = settled(), {LIMIT: limit(1000)}
    alloc.report("a", T0, 0, [Report(C, 0, 0, 5000)])
    (lease,) = alloc.allocate("a", T0, 1, rules)
    assert lease.granted == 1000  # alone: everything it wants
    alloc.report("b", T0 + 0.1, 0, [Report(C, 0, 0, 5000)])
    (lease,) = alloc.allocate("b", T0 + 0.1, 1, rules)
    assert lease.granted == 0  # nothing free yet
    alloc.report("a", T0 + 0.2, 1, [Report(C, 100, 1000, 5000)])
    (lease,) = alloc.allocate("a", T0 + 0.2, 2, rules)
    assert lease.granted == 500  # lowered to its fair half
    alloc.report("a", T0 + 0.3, 2, [Report(C, 120, 500, 5000)])
    alloc.report("b", T0 + 0.3, 1, [Report(C, 0, 0, 5000)])
    (lease,) = alloc.allocate("b", T0 + 0.3, 2, rules)
    assert lease.granted == 500  # what a gave back


def test_hand_over_confirms_committed_only() -> None:
    alloc, rules = Allocator(T0, lease_ttl=TTL), {LIMIT: limit(1000)}
    alloc.report("a", T0 + 1, 0, [Report(C, 40, 300, 900)])
    (lease,) = alloc.allocate("a", T0 + 1, 1, rules)
    assert lease.granted == 300
    done = T0 + HANDOVER_LEASE_TTLS * TTL + 0.1
    alloc.report("a", done, 1, [Report(C, 40, 300, 900)])
    (lease,) = alloc.allocate("a", done, 2, rules)
    assert lease.granted == 900


def test_silent_node_counts_its_fallback_share_in_later_windows() -> None:
    rules = {LIMIT: limit(1000)}
    alloc = Allocator(0, lease_ttl=TTL, node_expiry=120)
    alloc.report("quiet", T0 + 1, 0, [Report(C, 0, 0, 0)])
    # In the window its silence began in, only its committed amount (0) counts.
    alloc.report("busy", T0 + 5, 0, [Report(C, 0, 0, 5000)])
    (lease,) = alloc.allocate("busy", T0 + 5, 1, rules)
    assert lease.granted == 1000
    later = Counter(LIMIT, "", W + 60)
    now = T0 + 61
    alloc.report("busy", now, 1, [Report(later, 0, 0, 5000)], windows={LIMIT: W + 60})
    (lease,) = alloc.allocate("busy", now, 2, rules)
    assert lease.granted == 500  # floor(1000 / 2) kept for the silent one


def test_nodes_are_forgotten_after_expiry() -> None:
    alloc = Allocator(0, lease_ttl=TTL, node_expiry=60)
    alloc.report("a", T0, 0, [])
    alloc.report("b", T0 + 30, 0, [])
    assert alloc.data_plane_count(T0 + 30) == 2
    assert alloc.data_plane_count(T0 + 61) == 1


def test_old_windows_are_dropped() -> None:
    alloc = settled()
    alloc.report("a", T0, 0, [Report(C, 1, 1, 1)])
    alloc.report("a", T0 + 60, 0, [], windows={LIMIT: W + 60})
    assert alloc.counters() == set()


def test_budget_base_is_spend_minus_acknowledged_before_the_read() -> None:
    alloc, rules = settled(), {BUDGET: budget(1000)}
    c = Counter(BUDGET, "", 0)
    alloc.report("a", T0, 0, [Report(c, 300, 300, 1000, acknowledged=200)])
    read = SpendRead(0, T0 + 0.1, {"": 500})  # includes a's 200 and 300 from elsewhere
    # A report after the read acknowledges more: it must not lower the base.
    alloc.report("a", T0 + 0.2, 0, [Report(c, 300, 300, 1000, acknowledged=300)])
    (lease,) = alloc.allocate("a", T0 + 0.2, 1, rules, {(BUDGET, 0): read})
    assert lease.used_everywhere == 300 + 300
    assert lease.granted == 300 + (1000 - 300 - 300)


def test_budget_without_a_spend_read_grants_nothing_new() -> None:
    alloc, rules = settled(), {BUDGET: budget(1000)}
    c = Counter(BUDGET, "", 0)
    alloc.report("a", T0, 0, [Report(c, 10, 50, 1000)])
    (lease,) = alloc.allocate("a", T0, 1, rules, {})
    assert lease.granted == 50


def test_water_fill_is_proportional_and_capped() -> None:
    assert water_fill(100, {"a": (300, 0), "b": (100, 0)}) == {"a": 75, "b": 25}
    assert water_fill(100, {"a": (300, 0), "b": (10, 0)}) == {"a": 97, "b": 3}
    # Committed amounts stay; the rest levels up in proportion to wants.
    assert water_fill(100, {"a": (300, 60), "b": (300, 0)}) == {"a": 60, "b": 40}
    assert water_fill(0, {"a": (300, 0)}) == {"a": 0}
    assert water_fill(-5, {"a": (300, 7)}) == {"a": 7}
    assert sum(water_fill(7, {"a": (5, 0), "b": (5, 0), "c": (5, 0)}).values()) <= 7


@settings(max_examples=150, deadline=None)
@given(
    capacity=st.integers(1, 5000),
    steps=st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 6000), st.integers(0, 100)), max_size=60
    ),
)
def test_grants_plus_base_never_exceed_capacity(capacity: int, steps) -> None:
    alloc, rules = settled(), {LIMIT: limit(capacity)}
    nodes = [FakeNode(f"dp{i}") for i in range(5)]
    latest: dict[str, int] = {}
    for seq, (i, wants, use) in enumerate(steps, start=1):
        n = nodes[i]
        # Admit some of what it holds (never beyond it).
        n.used = min(n.held, n.used + use)
        latest[n.name] = n.report(alloc, T0 + seq * 0.01, wants, seq, rules)
        # Outstanding grants count: the node may apply any of them.
        outstanding = {
            m.name: max([m.held, *(g for _, g in m.pending)]) for m in nodes if m.name in latest
        }
        assert sum(outstanding.values()) <= capacity
