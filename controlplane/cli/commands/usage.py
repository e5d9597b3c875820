"""`oggy usage list|summary`: what went through the gateway, per event or aggregated."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from controlplane.cli import money, names, output, parsing
from controlplane.cli.commands.common import check_limit, list_up_to
from controlplane.cli.commands.group import CommandGroup
from controlplane.cli.context import Context
from oggy.v1 import admin_service_pb2, usage_pb2

# Who sent a request (usage events and prompt logs alike): key and actor ids.
REQUESTER_COLUMNS: list[output.Column] = [
    ("key", lambda e: names.short_id(e.key)),
    ("actor", lambda e: names.short_id(e.actor)),
]

EVENT_COLUMNS: list[output.Column] = [
    ("time", lambda e: output.fmt_time(e.start_time)),
    ("model", lambda e: e.model),
    *REQUESTER_COLUMNS,
    ("status", lambda e: e.http_status),
    ("error", lambda e: e.error_type),
    ("stream", lambda e: "yes" if e.stream else ""),
    ("prompt", lambda e: e.prompt_tokens),
    ("completion", lambda e: e.completion_tokens),
    ("total", lambda e: e.total_tokens),
    ("latency ms", lambda e: round(e.latency_ms, 1)),
    ("cost", lambda e: event_cost(e)),
]

_TOTALS: list[output.Column] = [
    ("requests", lambda r: r.requests),
    ("errors", lambda r: r.errors),
    ("prompt", lambda r: r.prompt_tokens),
    ("completion", lambda r: r.completion_tokens),
    ("total", lambda r: r.total_tokens),
    ("cached", lambda r: r.cached_tokens),
    ("reasoning", lambda r: r.reasoning_tokens),
    ("cost", lambda r: money.format_cost(r.cost_micro_usd, r.requests, r.unpriced_requests)),
]


def event_cost(event: usage_pb2.UsageEvent) -> str:
    """`$…`; `unknown` when tokens were used but the model has no price; empty otherwise."""
    if event.HasField("cost_micro_usd"):
        return money.format_usd(event.cost_micro_usd)
    return "unknown" if event.total_tokens else ""


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", help="key id, full name, or key prefix")
    parser.add_argument("--actor", help="actor id or full name")
    parser.add_argument("--model")
    parser.add_argument("--provider", help="provider id or full name")
    parser.add_argument("--since", help="start: a duration ago (1h, 7d), 'today' or ISO time")
    parser.add_argument("--until", help="end (exclusive), same forms as --since")
    parser.add_argument("--errors-only", action="store_true", help="only failed requests")
    parser.add_argument(
        "--team", help="team id or actor name (`=TEXT` for an unregistered team claim)"
    )
    parser.add_argument("--app")
    parser.add_argument("--workflow")
    parser.add_argument("--blocked", action="store_true", help="only requests a policy blocked")
    parser.add_argument("--policy-reason", metavar="REASON", help="e.g. model_not_allowed")


NOUN = "usage"
SUMMARY = "list and summarize usage events"


def register(group: CommandGroup) -> None:

    list_p = group.action("list", list_events, "usage events, newest first")
    _add_filters(list_p)
    list_p.add_argument("--limit", type=int, default=50, help="at most N events (default 50)")

    summary_p = group.action("summary", summarize, "totals grouped by dimensions")
    _add_filters(summary_p)
    summary_p.add_argument(
        "--by",
        action="append",
        metavar="DIM",
        help=f"group by {'|'.join(parsing.GROUP_BY)}; repeat (or comma-separate) for more",
    )


def build_filter(
    args: argparse.Namespace, workspace: str, now: datetime | None = None
) -> admin_service_pb2.UsageFilter:
    now = now or datetime.now(UTC)
    result = admin_service_pb2.UsageFilter(
        workspace=workspace,
        errors_only=bool(getattr(args, "errors_only", False)),
        blocked_only=bool(getattr(args, "blocked", False)),
        # App, workflow: plain strings from token claims. A team is recorded as the
        # team actor's resource name (see team_filter).
        app=getattr(args, "app", None) or "",
        workflow=getattr(args, "workflow", None) or "",
        policy_reason=getattr(args, "policy_reason", None) or "",
    )
    if getattr(args, "team", None):
        result.team = team_filter(workspace, args.team)
    if getattr(args, "key", None):
        result.key = names.key_name(workspace, args.key)
    if getattr(args, "actor", None):
        result.actor = names.child_name(workspace, "actors", args.actor)
    if getattr(args, "provider", None):
        result.provider = names.child_name(workspace, "providers", args.provider)
    if getattr(args, "model", None):
        result.model = args.model
    if getattr(args, "since", None):
        result.start_time.FromDatetime(parsing.parse_time(args.since, now))
    if getattr(args, "until", None):
        result.end_time.FromDatetime(parsing.parse_time(args.until, now))
    return result


def team_filter(workspace: str, value: str) -> str:
    """A team id → its actor name (how a registered team is recorded); a full name as is.

    A team claim that names no registered actor is recorded verbatim: pass it with a
    leading `=` (`--team =ml`) to match the raw text.
    """
    if value.startswith("="):
        return value[1:]
    return names.child_name(workspace, "actors", value)


def list_events(ctx: Context) -> int:
    limit = check_limit(ctx.args.limit)
    request = admin_service_pb2.ListUsageEventsRequest(filter=build_filter(ctx.args, ctx.workspace))
    events = list_up_to(ctx.client.stub.ListUsageEvents, request, "usage_events", limit)
    output.emit(ctx.format, events, EVENT_COLUMNS)
    return 0


def summary_columns(group_by: list[int]) -> list[output.Column]:
    def dimension(i: int) -> output.Column:
        def value(row: usage_pb2.UsageSummaryRow) -> str:
            text = row.group[i] if i < len(row.group) else ""
            # Keys, actors and providers are resource names: the id is enough in a table.
            return names.short_id(text) if text.startswith("workspaces/") else text

        return (parsing.group_by_label(group_by[i]), value)

    return [dimension(i) for i in range(len(group_by))] + _TOTALS


def summarize(ctx: Context) -> int:
    group_by = parsing.parse_group_by(ctx.args.by)
    request = admin_service_pb2.SummarizeUsageRequest(
        filter=build_filter(ctx.args, ctx.workspace), group_by=group_by
    )
    response = ctx.client.stub.SummarizeUsage(request)
    output.emit(ctx.format, list(response.rows), summary_columns(group_by))
    return 0
