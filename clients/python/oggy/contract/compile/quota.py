"""Limits and budgets → QuotaRules: which counters a request counts against. Pure.

A rule is a limit or a budget, compiled once per config change: its scope becomes
a predicate over what admission knows of a request (attribution, key, model, the
provider it is routed to first), its window a function of the clock. A request
counts against every rule whose scope it falls in, and each rule must pass
(hierarchical limits). `counted_per` says whose traffic shares a counter: the
whole scope, each actor, or each key — `member_of` gives the counter's member.

Both planes use these rules: the data plane to admit, the control plane to lease
quota per rule and to read a budget's spend from usage rows (the same `matches`,
so a budget counts exactly the requests the data plane reserved against it).
Scope fields may name resources by id or by full name; they are kept as full
names (`workspaces/{w}/actors/{team}`), the form usage events carry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from oggy.contract.compile import refs
from oggy.contract.compile.model import ConfigError
from oggy.contract.globs import GlobError, compile_globs
from oggy.contract.identity import Attribution
from oggy.contract.names import Collection
from oggy.contract.windows import (
    MAX_WINDOW_S,
    MIN_WINDOW_S,
    NO_WINDOW,
    Period,
    Window,
    calendar_window,
    fixed_window,
)
from oggy.v1 import budget_pb2, limit_pb2, scope_pb2

DEFAULT_WINDOW_S = 60
DEFAULT_THRESHOLDS = (50, 80, 100)
MAX_THRESHOLD = 1000
APPLYING_CACHE_SIZE = 4096
_Limit = limit_pb2.Limit
_Budget = budget_pb2.Budget


class Metric(Enum):
    REQUESTS = "requests"
    TOKENS = "tokens"
    CONCURRENT = "concurrent_requests"
    SPEND = "micro_usd"


class Mode(Enum):
    ENFORCE = "enforce"  # refuse over the limit
    SHADOW = "shadow"  # record what would have been refused, serve
    SOFT = "soft"  # budgets: record threshold crossings only


class Per(Enum):
    SCOPE = "scope"
    ACTOR = "actor"
    KEY = "key"


_METRICS = {
    _Limit.METRIC_REQUESTS: Metric.REQUESTS,
    _Limit.METRIC_TOKENS: Metric.TOKENS,
    _Limit.METRIC_CONCURRENT_REQUESTS: Metric.CONCURRENT,
}
_PERIODS = {
    _Budget.PERIOD_DAY: Period.DAY,
    _Budget.PERIOD_WEEK: Period.WEEK,
    _Budget.PERIOD_MONTH: Period.MONTH,
    _Budget.PERIOD_TOTAL: Period.TOTAL,
}
_ENFORCEMENT = {
    _Budget.ENFORCEMENT_HARD: Mode.ENFORCE,
    _Budget.ENFORCEMENT_SOFT: Mode.SOFT,
    _Budget.ENFORCEMENT_SHADOW: Mode.SHADOW,
}
_PER = {
    scope_pb2.COUNTED_PER_UNSPECIFIED: Per.SCOPE,
    scope_pb2.COUNTED_PER_SCOPE: Per.SCOPE,
    scope_pb2.COUNTED_PER_ACTOR: Per.ACTOR,
    scope_pb2.COUNTED_PER_KEY: Per.KEY,
}


@dataclass(frozen=True, slots=True)
class Scope:
    """Full resource names, or "" for "any"; `model` is a compiled glob or None."""

    team: str = ""
    actor: str = ""
    key: str = ""
    app: str = ""
    environment: str = ""
    workflow: str = ""
    model: re.Pattern[str] | None = None
    model_glob: str = ""
    provider: str = ""

    def matches(self, who: Attribution, key: str, model: str, provider: str) -> bool:
        return (
            (not self.team or self.team == who.team)
            and (not self.actor or self.actor == who.actor)
            and (not self.key or self.key == key)
            and (not self.app or self.app == who.app)
            and (not self.environment or self.environment == who.environment)
            and (not self.workflow or self.workflow == who.workflow)
            and (self.model is None or self.model.fullmatch(model) is not None)
            and (not self.provider or self.provider == provider)
        )

    def describe(self) -> str:
        """`team ml, model gpt-4o*`, or `workspace` for an empty scope (for error bodies)."""
        parts = [
            f"{label} {_short(value)}"
            for label, value in (
                ("team", self.team),
                ("actor", self.actor),
                ("key", self.key),
                ("app", self.app),
                ("environment", self.environment),
                ("workflow", self.workflow),
                ("model", self.model_glob),
                ("provider", self.provider),
            )
            if value
        ]
        return ", ".join(parts) or "workspace"


@dataclass(frozen=True, slots=True, eq=False)
class QuotaRule:
    name: str  # the limit's or budget's resource name
    metric: Metric
    capacity: int  # per window: requests, tokens, requests in flight, micro-USD
    scope: Scope
    per: Per
    mode: Mode
    window_s: int = 0  # fixed-window rate limits; 0 otherwise
    period: Period | None = None  # budgets
    thresholds: tuple[int, ...] = ()  # budgets: percentages whose crossing is recorded

    @property
    def is_budget(self) -> bool:
        return self.metric is Metric.SPEND

    @property
    def enforces(self) -> bool:
        return self.mode is Mode.ENFORCE

    def window(self, now: float) -> Window:
        if self.window_s:
            return fixed_window(now, self.window_s)
        if self.period is not None:
            return calendar_window(now, self.period)
        return NO_WINDOW

    def member_of(self, who: Attribution, key: str) -> str:
        """The counter within the rule a request counts against ("" when shared)."""
        if self.per is Per.ACTOR:
            return who.actor
        if self.per is Per.KEY:
            return key
        return ""

    def describe(self) -> str:
        per = "" if self.per is Per.SCOPE else f" (each {self.per.value})"
        return f"{self.scope.describe()}{per}"


class QuotaRules:
    """A workspace's rules, with the applying set memoised per request shape."""

    __slots__ = ("_cache", "rules")

    def __init__(self, rules: Sequence[QuotaRule] = ()) -> None:
        self.rules = tuple(rules)
        self._cache: dict[tuple[Attribution, str, str, str], tuple[QuotaRule, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def applying(
        self, who: Attribution, key: str, model: str, provider: str
    ) -> tuple[QuotaRule, ...]:
        """The rules a request counts against, in name order."""
        if not self.rules:
            return ()
        memo = (who, key, model, provider)
        found = self._cache.get(memo)
        if found is None:
            found = tuple(r for r in self.rules if r.scope.matches(who, key, model, provider))
            if len(self._cache) >= APPLYING_CACHE_SIZE:
                self._cache.clear()
            self._cache[memo] = found
        return found

    def by_name(self) -> dict[str, QuotaRule]:
        return {r.name: r for r in self.rules}


NO_RULES = QuotaRules()


def compile_quota_rules(
    workspace: str, limits: Iterable[_Limit], budgets: Iterable[_Budget]
) -> QuotaRules:
    """Raises ConfigError naming the limit or budget at fault."""
    rules = [compile_limit(workspace, lim) for lim in limits]
    rules += [compile_budget(workspace, b) for b in budgets]
    return QuotaRules(sorted(rules, key=lambda r: r.name))


def compile_limit(workspace: str, limit: _Limit) -> QuotaRule:
    refs.reference(limit.name, Collection.LIMITS, workspace, "limit name")
    metric = _METRICS.get(limit.metric)
    if metric is None:
        raise ConfigError(f"{limit.name}: metric must be requests, tokens or concurrent requests")
    if limit.capacity <= 0:
        raise ConfigError(f"{limit.name}: capacity must be > 0, got {limit.capacity}")
    window_s = 0
    if metric is not Metric.CONCURRENT:
        window_s = DEFAULT_WINDOW_S
        if limit.HasField("window"):
            window_s, nanos = limit.window.seconds, limit.window.nanos
            if nanos or not MIN_WINDOW_S <= window_s <= MAX_WINDOW_S:
                raise ConfigError(
                    f"{limit.name}: window must be whole seconds from {MIN_WINDOW_S} s to"
                    f" {MAX_WINDOW_S} s"
                )
    elif limit.HasField("window"):
        raise ConfigError(f"{limit.name}: a concurrency limit has no window")
    return QuotaRule(
        name=limit.name,
        metric=metric,
        capacity=limit.capacity,
        scope=compile_scope(workspace, limit.scope, limit.name),
        per=_per(limit.counted_per, limit.name),
        mode=Mode.SHADOW if limit.shadow else Mode.ENFORCE,
        window_s=window_s,
    )


def compile_budget(workspace: str, budget: _Budget) -> QuotaRule:
    refs.reference(budget.name, Collection.BUDGETS, workspace, "budget name")
    if budget.amount_micro_usd <= 0:
        raise ConfigError(f"{budget.name}: amount must be > 0 micro-USD")
    period = _PERIODS.get(budget.period)
    if period is None:
        raise ConfigError(f"{budget.name}: period must be day, week, month or total")
    mode = _ENFORCEMENT.get(budget.enforcement)
    if mode is None:
        raise ConfigError(f"{budget.name}: enforcement must be hard, soft or shadow")
    thresholds = tuple(sorted(set(budget.threshold_percents))) or DEFAULT_THRESHOLDS
    if not all(1 <= t <= MAX_THRESHOLD for t in thresholds):
        raise ConfigError(f"{budget.name}: thresholds must be 1 to {MAX_THRESHOLD} percent")
    return QuotaRule(
        name=budget.name,
        metric=Metric.SPEND,
        capacity=budget.amount_micro_usd,
        scope=compile_scope(workspace, budget.scope, budget.name),
        per=_per(budget.counted_per, budget.name),
        mode=mode,
        period=period,
        thresholds=thresholds,
    )


def compile_scope(workspace: str, scope: scope_pb2.Scope, owner: str) -> Scope:
    model = None
    if scope.model:
        try:
            model = compile_globs([scope.model])
        except GlobError as e:
            raise ConfigError(f"{owner}: scope.model: {e}") from None
    return Scope(
        team=_ref(scope.team, Collection.ACTORS, workspace, f"{owner} scope.team"),
        actor=_ref(scope.actor, Collection.ACTORS, workspace, f"{owner} scope.actor"),
        key=_ref(scope.key, Collection.KEYS, workspace, f"{owner} scope.key"),
        app=scope.app,
        environment=scope.environment,
        workflow=scope.workflow,
        model=model,
        model_glob=scope.model,
        provider=_ref(scope.provider, Collection.PROVIDERS, workspace, f"{owner} scope.provider"),
    )


def _ref(value: str, collection: Collection, workspace: str, field: str) -> str:
    """An id or a full name → the full name, checked to be in `workspace`."""
    if not value:
        return ""
    full = value if "/" in value else f"{workspace}/{collection.value}/{value}"
    return str(refs.reference(full, collection, workspace, field))


def _per(value: int, owner: str) -> Per:
    per = _PER.get(value)  # type: ignore[call-overload]
    if per is None:
        raise ConfigError(f"{owner}: unknown counted_per {value}")
    return per


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]
