"""What a caller is told about quota. Pure.

On every response a rule applies to: OpenAI's `x-ratelimit-{limit,remaining,reset}-
{requests,tokens}` headers, from the most constraining enforcing rule of each metric
(remaining = capacity - what every data plane counted as last leased, adjusted by
this node's use since; never below 0). When a rule refuses: a rate limit is 429
`rate_limit_exceeded` with `Retry-After`; a spent budget is 402 `budget_exceeded`
(type `insufficient_quota`, which the official SDKs do not retry). Each names the
rule, its scope and when it resets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType

from dataplane.quota.table import Counter, Reservation
from oggy.contract import errors
from oggy.contract.compile.quota import Metric

NO_HEADERS: Mapping[str, str] = MappingProxyType({})
# A refusal that quota soon frees (a lease on its way, a request in flight finishing).
SOON_S = 1
_UNITS = {
    Metric.REQUESTS: "requests",
    Metric.TOKENS: "tokens",
    Metric.CONCURRENT: "requests in flight",
    Metric.SPEND: "micro-USD",
}


def rate_headers(res: Reservation, now: float) -> Mapping[str, str]:
    """The `x-ratelimit-*` headers for the request's enforcing request and token limits."""
    tightest: dict[tuple[str, str, str], Counter] = {}
    for c, _ in res.parts:
        names = c.plan.headers
        if names is not None:
            best = tightest.get(names)
            if best is None or c.remaining() < best.remaining():
                tightest[names] = c
    if not tightest:
        return NO_HEADERS
    out: dict[str, str] = {}
    for (limit, remaining, reset), c in tightest.items():
        out[limit] = str(c.plan.capacity)
        out[remaining] = str(c.remaining())
        out[reset] = c.reset_text(now)
    return out


def refusal(res: Reservation, now: float, headers: Mapping[str, str]) -> errors.GatewayError:
    """The error for a reservation an enforcing rule refused."""
    c = res.blocked
    assert c is not None
    rule = c.plan.rule
    cost = next(cost for counter, cost in res.parts if counter is c)
    resets = _resets(c)
    if rule.is_budget:
        return errors.BudgetExceeded(
            f"Budget {rule.name} ({rule.describe()}) is spent: {c.plan.capacity} micro-USD"
            f" per {rule.period.value if rule.period else 'period'}. {resets}",
            headers=headers or None,
        )
    wait = _retry_after(c, cost, now)
    unit = _UNITS[rule.metric]
    per = f" per {rule.window_s} s" if rule.window_s else " at once"
    message = (
        f"Rate limit reached for {rule.name} ({rule.describe()}): {c.plan.capacity} {unit}{per}."
        f" {resets} Try again in {wait} s."
    )
    kind = "tokens" if rule.metric is Metric.TOKENS else "requests"
    return errors.RateLimited(message, kind=kind, headers={**headers, "Retry-After": str(wait)})


def shadow_reason(res: Reservation) -> str:
    """What a shadow rule that would have refused records (`shadow_reason`)."""
    c = res.shadow
    if c is None:
        return ""
    return errors.BudgetExceeded.code if c.plan.is_budget else errors.RateLimited.policy_reason


def _retry_after(c: Counter, cost: int, now: float) -> int:
    """Whole seconds: soon when quota is on its way (no lease yet, room elsewhere in the
    fleet, a concurrency slot), else when the window resets."""
    if c.reset is None or not c.leased or c.remaining() >= cost:
        return SOON_S
    return max(SOON_S, math.ceil(c.reset - now))


def _resets(c: Counter) -> str:
    if c.reset is None:
        return "It does not reset." if c.plan.is_budget else "A slot frees as a request ends."
    when = datetime.fromtimestamp(c.reset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"It resets at {when}."
