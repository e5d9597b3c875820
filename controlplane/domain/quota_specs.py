"""Limits and budgets as the admin API stores them. Pure.

A write is normalised before it is stored, so every read says what is enforced
without the reader knowing the defaults: `counted_per` unspecified → per scope, a
rate limit's missing window → 60 s, a budget's empty thresholds → 50/80/100
(sorted, each once). Scope references given as ids are stored as full resource
names, the form usage events carry and `policy.target` uses; that they exist is
checked by the caller, atomically with the write (a guard per reference).

Everything else (metric, capacity, window range, period, enforcement, model
glob, a reference into another workspace) is judged by the data plane's own
compiler (`oggy.contract.compile.quota`), called by `check`.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Collection as Fields
from dataclasses import dataclass
from typing import Any, TypeVar

from controlplane.domain import validation
from controlplane.domain.errors import InvalidArgument
from oggy.contract.compile import ConfigError
from oggy.contract.compile.quota import (
    DEFAULT_THRESHOLDS,
    DEFAULT_WINDOW_S,
    compile_budget,
    compile_limit,
)
from oggy.contract.names import ChildName, Collection, WorkspaceName, parse_child_name
from oggy.v1 import budget_pb2, limit_pb2, scope_pb2

Limit = limit_pb2.Limit
Budget = budget_pb2.Budget
MAX_LABEL = 200
# Scope fields that name a resource, and the collection each names.
SCOPE_REFERENCES = (
    ("team", Collection.ACTORS),
    ("actor", Collection.ACTORS),
    ("key", Collection.KEYS),
    ("provider", Collection.PROVIDERS),
)
# Scope fields matched as attributed (free text).
SCOPE_LABELS = ("app", "environment", "workflow")
Q = TypeVar("Q", Limit, Budget)


def normalise_scope(scope: scope_pb2.Scope, workspace: WorkspaceName, field: str) -> None:
    """In place: ids → full names in `workspace`; labels and the model glob checked."""
    for attr, collection in SCOPE_REFERENCES:
        value = getattr(scope, attr).strip()
        if value and "/" not in value:
            value = str(workspace.child(collection, value))
        setattr(scope, attr, value)
    for attr in SCOPE_LABELS:
        validation.short_text(getattr(scope, attr), f"{field}.{attr}", MAX_LABEL)
    if scope.model:
        validation.model_globs([scope.model], f"{field}.model")


def scope_references(scope: scope_pb2.Scope) -> list[tuple[str, ChildName]]:
    """(field, resource) for each resource a normalised scope names, for the caller's
    existence guards."""
    return [
        (f"scope.{attr}", parse_child_name(getattr(scope, attr), collection, f"scope.{attr}"))
        for attr, collection in SCOPE_REFERENCES
        if getattr(scope, attr)
    ]


def _common(resource: Q, workspace: WorkspaceName, field: str) -> None:
    normalise_scope(resource.scope, workspace, f"{field}.scope")
    if resource.counted_per == scope_pb2.COUNTED_PER_UNSPECIFIED:
        resource.counted_per = scope_pb2.COUNTED_PER_SCOPE
    validation.short_text(resource.description, f"{field}.description")


def normalise_limit(limit: Limit, workspace: WorkspaceName, written: Fields[str]) -> Limit:
    """In place, and returned. `written`: the fields the write set (an update that makes
    a rate limit a concurrency limit without naming the window drops the stored one)."""
    _common(limit, workspace, "limit")
    if limit.metric == Limit.METRIC_CONCURRENT_REQUESTS:
        if "window" not in written:
            limit.ClearField("window")
    elif not limit.HasField("window"):
        limit.window.seconds = DEFAULT_WINDOW_S
    return limit


def normalise_budget(budget: Budget, workspace: WorkspaceName, written: Fields[str]) -> Budget:
    """In place, and returned (`written` is not needed: no budget default depends on
    what a write named)."""
    _common(budget, workspace, "budget")
    thresholds = sorted(set(budget.threshold_percents)) or list(DEFAULT_THRESHOLDS)
    del budget.threshold_percents[:]
    budget.threshold_percents.extend(thresholds)
    return budget


def _checker(compile_one: Callable[[str, Q], object]) -> Callable[[Q, WorkspaceName], None]:
    def check(resource: Q, workspace: WorkspaceName) -> None:
        """Compile `resource` (named) as every data plane will; INVALID_ARGUMENT if refused."""
        try:
            compile_one(str(workspace), resource)
        except ConfigError as e:
            raise InvalidArgument(str(e)) from None

    return check


@dataclass(frozen=True, slots=True)
class Kind:
    """How one of the two is normalised and checked."""

    normalise: Callable[[Any, WorkspaceName, Fields[str]], object]
    check: Callable[[Any, WorkspaceName], None]


LIMITS = Kind(normalise_limit, _checker(compile_limit))
BUDGETS = Kind(normalise_budget, _checker(compile_budget))
