"""`oggy budget create|list|show|update|delete|status|crossings`: spend limits over a
scope and a UTC calendar period.

    oggy budget create ml-month --team ml --amount 100 --period month
    oggy budget create per-dev --team ml --amount '$12.50' --period day --per actor
    oggy budget status ml-month

Hard budgets refuse requests once spent; soft ones only record threshold crossings;
shadow ones record what would have been refused. `update` changes exactly the flags
given (scope flags are laid over the stored scope).
"""

from __future__ import annotations

import argparse

from controlplane.cli import names, output, parsing
from controlplane.cli.commands import budget_status
from controlplane.cli.commands.group import CommandGroup
from controlplane.cli.commands.scope_flags import (
    PER,
    add_scope_flags,
    build_scope,
    per_label,
    scope_given,
    scope_label,
)
from controlplane.cli.commands.scoped_crud import ScopedNoun
from controlplane.cli.errors import CliError
from controlplane.cli.money import format_usd, parse_usd
from oggy.v1 import budget_pb2

Budget = budget_pb2.Budget
PERIODS = {
    "day": Budget.PERIOD_DAY,
    "week": Budget.PERIOD_WEEK,
    "month": Budget.PERIOD_MONTH,
    "total": Budget.PERIOD_TOTAL,
}
ENFORCEMENT = {
    "hard": Budget.ENFORCEMENT_HARD,
    "soft": Budget.ENFORCEMENT_SOFT,
    "shadow": Budget.ENFORCEMENT_SHADOW,
}
DEFAULT_LIMIT = 50


def _label(choices: dict[str, int], value: int) -> str:
    return next((k for k, v in choices.items() if v == value), str(value))


def _thresholds(b: Budget) -> str:
    return ",".join(f"{t}%" for t in b.threshold_percents)


LIST_COLUMNS: list[output.Column] = [
    ("id", lambda b: names.short_id(b.name)),
    ("amount", lambda b: format_usd(b.amount_micro_usd)),
    ("period", lambda b: _label(PERIODS, b.period)),
    ("enforcement", lambda b: _label(ENFORCEMENT, b.enforcement)),
    ("per", lambda b: per_label(b.counted_per)),
    ("scope", lambda b: scope_label(b.scope)),
    ("thresholds", _thresholds),
]
DETAIL_COLUMNS: list[output.Column] = [
    ("name", lambda b: b.name),
    *LIST_COLUMNS[1:],
    ("description", lambda b: b.description),
    ("updated", lambda b: output.fmt_time(b.update_time)),
]


def parse_thresholds(text: str) -> list[int]:
    """`50,80,100` (a `%` after each is allowed) → [50, 80, 100]."""
    values = []
    for part in parsing.split_list([text]):
        try:
            values.append(int(part.removesuffix("%")))
        except ValueError:
            raise CliError(
                f"invalid --thresholds {text!r}: expected percentages like 50,80,100"
            ) from None
    return values


def build_changes(
    args: argparse.Namespace, workspace: str, base: Budget
) -> tuple[Budget, list[str]]:
    """The flags given → a Budget holding them (over `base`'s scope) and the mask paths."""
    budget = Budget()
    paths: list[str] = []
    if scope_given(args):
        budget.scope.CopyFrom(build_scope(args, workspace, base.scope))
        paths.append("scope")
    if args.per is not None:
        budget.counted_per = PER[args.per]
        paths.append("counted_per")
    if args.amount is not None:
        budget.amount_micro_usd = parse_usd(args.amount, "--amount")
        if budget.amount_micro_usd <= 0:
            raise CliError("--amount must be more than $0")
        paths.append("amount_micro_usd")
    if args.period is not None:
        budget.period = PERIODS[args.period]
        paths.append("period")
    if args.enforcement is not None:
        budget.enforcement = ENFORCEMENT[args.enforcement]
        paths.append("enforcement")
    if args.thresholds is not None:
        budget.threshold_percents.extend(parse_thresholds(args.thresholds))
        paths.append("threshold_percents")
    if args.description is not None:
        budget.description = args.description
        paths.append("description")
    return budget, paths


NOUN = "budget"
SUMMARY = "create, list, show, update and delete budgets; their status and crossings"


def _add_settings(parser: argparse.ArgumentParser, creating: bool) -> None:
    BUDGETS.add_id(parser)
    parser.add_argument(
        "--amount", required=creating, metavar="USD", help="in dollars: 100, $12.50"
    )
    parser.add_argument(
        "--period",
        choices=list(PERIODS),
        default="month" if creating else None,
        help="UTC calendar period (weeks start on Monday; default month); total never resets",
    )
    parser.add_argument(
        "--enforcement",
        choices=list(ENFORCEMENT),
        default="hard" if creating else None,
        help="hard refuses once spent (default); soft records crossings; shadow records "
        "what would be refused",
    )
    parser.add_argument(
        "--thresholds",
        metavar="PCT,...",
        help="percentages whose crossing is recorded (default 50,80,100)",
    )
    parser.add_argument("--description", metavar="TEXT")
    add_scope_flags(parser)


BUDGETS = ScopedNoun("Budget", "Budgets", Budget, build_changes, LIST_COLUMNS, DETAIL_COLUMNS)


def register(group: CommandGroup) -> None:
    BUDGETS.register(group, _add_settings)
    status_p = group.action(
        "status", budget_status.status, "spent, reserved and remaining in the current period"
    )
    BUDGETS.add_id(status_p)
    status_p.add_argument(
        "--member", metavar="ID", help="per-member budgets: only this actor (or key)"
    )
    crossings_p = group.action(
        "crossings", budget_status.crossings, "thresholds crossed, newest first"
    )
    BUDGETS.add_id(crossings_p, optional=True)
    crossings_p.add_argument(
        "--limit", type=int, default=DEFAULT_LIMIT, metavar="N", help="at most N crossings"
    )
