"""Budget spend per member from grouped usage rows, and the crossings it makes due."""

from __future__ import annotations

from controlplane.quota.allocator import SpendRead
from controlplane.quota.spend import crossings_due, spend_by_member
from controlplane.usage.budgets import ScopeSpend
from oggy.contract.compile.quota import compile_budget
from oggy.v1 import budget_pb2, scope_pb2

W = "workspaces/acme"
B = budget_pb2.Budget


def row(actor: str, model: str, cost: int, team: str = "ml") -> ScopeSpend:
    return ScopeSpend(
        f"{W}/actors/{team}", f"{W}/actors/{actor}", f"{W}/keys/k1", "", "", "", model, "", cost
    )


ROWS = [row("alice", "gpt-4o", 100), row("bob", "gpt-4o-mini", 30), row("carol", "gpt-4o", 5, "x")]


def budget(per: int = scope_pb2.COUNTED_PER_SCOPE, thresholds=()) -> object:
    return compile_budget(
        W,
        B(
            name=f"{W}/budgets/b",
            scope=scope_pb2.Scope(team="ml", model="gpt-4o*"),
            counted_per=per,
            amount_micro_usd=200,
            period=B.PERIOD_MONTH,
            enforcement=B.ENFORCEMENT_HARD,
            threshold_percents=thresholds,
        ),
    )


def test_shared_budget_sums_what_its_scope_matches() -> None:
    assert spend_by_member(budget(), ROWS) == {"": 130}


def test_per_actor_budget_splits_by_member() -> None:
    got = spend_by_member(budget(scope_pb2.COUNTED_PER_ACTOR), ROWS)
    assert got == {f"{W}/actors/alice": 100, f"{W}/actors/bob": 30}


def test_crossings_due_for_each_threshold_reached() -> None:
    rule = budget(thresholds=[50, 60, 100])
    reads = {(rule.name, 7): SpendRead(7, 0.0, {"": 130})}
    due = crossings_due({rule.name: rule}, reads, 10.0)
    assert [(c.threshold_percent, c.spent_micro_usd, c.period_start_us) for c in due] == [
        (50, 130, 7_000_000),
        (60, 130, 7_000_000),
    ]
