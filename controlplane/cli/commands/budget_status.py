"""`oggy budget status|crossings`: a budget's spend in its current period, and the
thresholds crossed. Money is shown in dollars (integer micro-USD until printed)."""

from __future__ import annotations

from controlplane.cli import names, output
from controlplane.cli.commands.common import check_limit, list_up_to
from controlplane.cli.context import Context
from controlplane.cli.errors import CliError
from controlplane.cli.money import format_usd
from oggy.v1 import admin_service_pb2, scope_pb2

COLLECTION = "budgets"


def _member(name: str) -> str:
    return names.short_id(name) if name else "(all)"


STATUS_COLUMNS: list[output.Column] = [
    ("member", lambda s: _member(s.member)),
    ("amount", lambda s: format_usd(s.amount_micro_usd)),
    ("spent", lambda s: format_usd(s.spent_micro_usd)),
    ("reserved", lambda s: format_usd(s.reserved_micro_usd)),
    ("remaining", lambda s: format_usd(s.remaining_micro_usd)),
    ("percent", lambda s: f"{s.percent:.1f}%"),
    ("reset at", lambda s: output.fmt_time(s.reset_time) or "never"),
    ("exhausted", lambda s: "yes" if s.exhausted else ""),
]
CROSSING_COLUMNS: list[output.Column] = [
    ("budget", lambda c: names.short_id(c.budget)),
    ("member", lambda c: _member(c.member)),
    ("threshold", lambda c: f"{c.threshold_percent}%"),
    ("spent", lambda c: format_usd(c.spent_micro_usd)),
    ("amount", lambda c: format_usd(c.amount_micro_usd)),
    ("crossed", lambda c: output.fmt_time(c.cross_time)),
    ("period start", lambda c: output.fmt_time(c.period_start)),
]


def status(ctx: Context) -> int:
    args = ctx.args
    name = names.child_name(ctx.workspace, COLLECTION, args.budget)
    member = _member_name(ctx, name, args.member) if args.member else ""
    response = ctx.client.stub.GetBudgetStatus(
        admin_service_pb2.GetBudgetStatusRequest(name=name, member=member)
    )
    if ctx.format == "json":
        output.write_json(output.to_dict(response))
        return 0
    period = response.statuses[0].period_start if response.statuses else None
    since = f" since {output.fmt_time(period)}" if period is not None else ""
    print(f"# {response.budget.name or name}{since}")
    output.emit(ctx.format, list(response.statuses), STATUS_COLUMNS)
    return 0


def _member_name(ctx: Context, budget: str, value: str) -> str:
    """An actor's or a key's id → its name; which of the two the budget counts per says."""
    stored = ctx.client.stub.GetBudget(admin_service_pb2.GetBudgetRequest(name=budget)).budget
    if stored.counted_per == scope_pb2.COUNTED_PER_KEY:
        return names.key_name(ctx.workspace, value)
    if stored.counted_per == scope_pb2.COUNTED_PER_ACTOR:
        return names.child_name(ctx.workspace, "actors", value)
    raise CliError(f"{budget} is one shared counter: it has no members (drop --member)")


def crossings(ctx: Context) -> int:
    args = ctx.args
    parent = ctx.workspace
    if args.budget:
        parent = names.child_name(ctx.workspace, COLLECTION, args.budget)
    request = admin_service_pb2.ListBudgetCrossingsRequest(parent=parent)
    found = list_up_to(
        ctx.client.stub.ListBudgetCrossings, request, "crossings", check_limit(args.limit)
    )
    output.emit(ctx.format, found, CROSSING_COLUMNS)
    return 0
