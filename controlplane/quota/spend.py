"""Budget spend from the usage store, and threshold crossings. Pure except `SpendReader`.

A budget counter's spend is the priced cost of the period's usage rows its scope
matches, summed per member. Which rows a budget counts is decided by the compiled
scope's `matches` — the predicate data planes reserve with — over rows grouped by
every scope dimension, so no second copy of scope logic exists in SQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from controlplane.quota.allocator import SpendRead
from controlplane.usage.budgets import Crossing, ScopeSpend
from oggy.contract.compile.quota import QuotaRule
from oggy.contract.identity import Attribution
from oggy.contract.snapshot import workspace_of

US = 1_000_000


class SpendSource(Protocol):
    async def scope_spend(
        self, workspace: str, start_us: int, end_us: int | None
    ) -> list[ScopeSpend]: ...


def spend_by_member(rule: QuotaRule, rows: Iterable[ScopeSpend]) -> dict[str, int]:
    """Member ("" for shared budgets) → spend of the rows `rule`'s scope matches."""
    out: dict[str, int] = defaultdict(int)
    for r in rows:
        who = Attribution(r.actor, r.team, r.app, r.environment, r.workflow)
        if rule.scope.matches(who, r.key, r.model, r.provider):
            out[rule.member_of(who, r.key)] += r.cost_micro_usd
    return dict(out)


async def read_spend(
    source: SpendSource, budgets: Sequence[QuotaRule], now: float, started_at: float
) -> dict[tuple[str, int], SpendRead]:
    """(budget name, period start) → its spend read, one usage query per workspace and
    period. `started_at`: when the read began (see SpendRead)."""
    groups: dict[tuple[str, int, int | None], list[QuotaRule]] = defaultdict(list)
    for rule in budgets:
        window = rule.window(now)
        groups[(workspace_of(rule.name), window.start, window.reset)].append(rule)
    out: dict[tuple[str, int], SpendRead] = {}
    for (workspace, start, reset), rules in groups.items():
        rows = await source.scope_spend(
            workspace, start * US, None if reset is None else reset * US
        )
        for rule in rules:
            out[(rule.name, start)] = SpendRead(start, started_at, spend_by_member(rule, rows))
    return out


def crossings_due(
    rules: Mapping[str, QuotaRule], reads: Mapping[tuple[str, int], SpendRead], now: float
) -> list[Crossing]:
    """Every threshold the spend has reached (recording is idempotent: the store keeps
    the first of each)."""
    out: list[Crossing] = []
    for (name, start), read in reads.items():
        rule = rules.get(name)
        if rule is None:
            continue
        for member, spent in read.by_member.items():
            for t in rule.thresholds:
                if spent * 100 >= t * rule.capacity:
                    out.append(
                        Crossing(
                            workspace_of(name),
                            name,
                            member,
                            start * US,
                            t,
                            int(now * US),
                            spent,
                            rule.capacity,
                        )
                    )
    return out
