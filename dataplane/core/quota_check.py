"""The quota step: after `admit`, the one check of limits and budgets for every endpoint. Pure.

The rules a request counts against are its workspace's rules whose scope it falls in
(`QuotaRules.applying`: attribution, key, the model it named, the provider of its
first target). Each gets the request's cost (quota_costs) under its counter's
member; the table admits against all of them or none. What comes back is the
verdict (an Admitted with the `x-ratelimit-*` headers, a shadow reason, and the
request capped at the output bound it reserved; or a Refused with the error that
names the rule) and the Reservation to settle when the request ends. Listings
(`/v1/models`) go nowhere upstream and count against nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from dataplane.core.admission import Admitted, Refused, Verdict
from dataplane.core.chat_request import ChatRequest
from dataplane.core.estimate import Count
from dataplane.core.quota_answer import rate_headers, refusal, shadow_reason
from dataplane.core.quota_costs import Estimate, estimate, max_spend
from dataplane.quota.table import Ask, QuotaTable, Reservation
from oggy.contract import errors
from oggy.contract.compile.quota import Metric, Mode
from oggy.v1 import usage_pb2

# model → the prompt's token counter (never loads a tokenizer: see tokens.loaded_counter).
CountFor = Callable[[str], Count]


# (the verdict, the reservation to settle, whether the next lease may lift a refusal)
Checked = tuple[Verdict, Reservation | None, bool]


def check_quota(
    admitted: Admitted,
    table: QuotaTable,
    now: float,
    count_for: CountFor,
    reserve_spend: bool = True,
) -> Checked:
    """`reserve_spend=False` (a demonstration only) counts a budget's spend at
    settlement alone, so concurrent requests can overspend."""
    req = admitted.request
    if req is None or not admitted.targets:
        return admitted, None, False
    key = admitted.key
    workspace = key.workspace
    who = admitted.attribution
    rules = workspace.quota.applying(
        who, key.name, admitted.model, admitted.targets[0].provider.name
    )
    if not rules:
        return admitted, None, False
    est: Estimate | None = None
    spend: int | None = -1  # not worked out yet
    unpriced = ""
    asks: list[Ask] = []
    for rule in rules:
        metric = rule.metric
        if metric is Metric.REQUESTS or metric is Metric.CONCURRENT:
            cost = 1
        else:
            if est is None:
                est = estimate(req, count_for(admitted.model))
            if metric is Metric.TOKENS:
                cost = est.tokens
            else:
                if spend == -1:
                    spend = _spend(admitted, est, int(now))
                if spend is None:
                    if rule.mode is Mode.ENFORCE:
                        return _refused(admitted, _unpriced(admitted.model, rule.name)), None, False
                    if rule.mode is Mode.SHADOW:
                        unpriced = unpriced or errors.ModelUnpriced.code
                    cost = 0
                else:
                    cost = spend if reserve_spend else 0
        asks.append((rule, rule.member_of(who, key.name), cost))
    res = table.acquire(asks, now)
    headers = rate_headers(res, now)
    if res.blocked is not None:
        return _refused(admitted, refusal(res, now, headers)), None, table.worth_waiting(res, now)
    shadow = admitted.shadow_reason or unpriced or shadow_reason(res)
    request = est.request if est is not None else req
    return admitted._replace(headers=headers, shadow_reason=shadow, request=request), res, False


def _spend(admitted: Admitted, est: Estimate, at: int) -> int | None:
    if not isinstance(est.request, ChatRequest):
        return 0  # pass-through: settled to what its response reports
    return max_spend(admitted.key.workspace.prices, admitted.targets, est, at)


def _unpriced(model: str, budget: str) -> errors.ModelUnpriced:
    return errors.ModelUnpriced(
        f"The model {model!r} has no price here, and the hard budget {budget} applies to"
        " it: it cannot be served without a price."
    )


def _refused(a: Admitted, error: errors.GatewayError) -> Refused:
    return Refused(
        error,
        a.key,
        a.attribution,
        a.client_ip,
        a.labels,
        a.shadow_reason,
        a.model,
        a.request,
        body_read=True,
    )


def settle_quota(
    table: QuotaTable, res: Reservation, event: usage_pb2.UsageEvent | None, *, relayed: bool
) -> None:
    """The request ended: its tokens and spend move to the event's figures, concurrency
    frees. Without figures, what was reserved stays counted when anything was relayed
    (the provider may have charged for it) and is given back when nothing was."""
    if event is None:
        table.release(res)
        return
    known = bool(event.token_source)
    tokens: int | None = event.total_tokens if known else (None if relayed else 0)
    spend: int | None
    if event.HasField("cost_micro_usd"):
        spend = event.cost_micro_usd
    else:
        spend = None if known or relayed else 0
    table.settle(res, tokens, spend, event.event_id)
