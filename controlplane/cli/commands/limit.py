"""`oggy limit create|list|show|update|delete`: rate and concurrency limits over a scope.

    oggy limit create ml-gpt4o --team ml --model 'gpt-4o*' --capacity 600 --window 1m
    oggy limit create alice-tpm --actor alice --metric tokens --capacity 100000 --per actor
    oggy limit create inflight --metric concurrent --capacity 20 --shadow

Windows are fixed and aligned to the epoch (a 1m window resets on the minute, UTC).
`update` changes exactly the flags given (scope flags are laid over the stored scope).
"""

from __future__ import annotations

import argparse

from google.protobuf.duration_pb2 import Duration

from controlplane.cli import names, output, parsing
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
from oggy.v1 import limit_pb2

Limit = limit_pb2.Limit
METRICS = {
    "requests": Limit.METRIC_REQUESTS,
    "tokens": Limit.METRIC_TOKENS,
    "concurrent": Limit.METRIC_CONCURRENT_REQUESTS,
}


def metric_label(value: int) -> str:
    return next((k for k, v in METRICS.items() if v == value), str(value))


def window_label(limit: Limit) -> str:
    if not limit.HasField("window"):
        return ""
    return parsing.format_duration(limit.window.seconds)


def parse_window(text: str) -> Duration:
    """`60s`, `1m`, `1h` → whole seconds (the server checks the range)."""
    seconds = int(parsing.parse_duration(text).total_seconds())
    if seconds <= 0:
        raise CliError(f"invalid --window {text!r}: must be at least 1s")
    return Duration(seconds=seconds)


def _yes(value: bool) -> str:
    return "yes" if value else ""


LIST_COLUMNS: list[output.Column] = [
    ("id", lambda x: names.short_id(x.name)),
    ("metric", lambda x: metric_label(x.metric)),
    ("capacity", lambda x: x.capacity),
    ("window", window_label),
    ("per", lambda x: per_label(x.counted_per)),
    ("scope", lambda x: scope_label(x.scope)),
    ("shadow", lambda x: _yes(x.shadow)),
]
DETAIL_COLUMNS: list[output.Column] = [
    ("name", lambda x: x.name),
    *LIST_COLUMNS[1:],
    ("description", lambda x: x.description),
    ("updated", lambda x: output.fmt_time(x.update_time)),
]


def build_changes(args: argparse.Namespace, workspace: str, base: Limit) -> tuple[Limit, list[str]]:
    """The flags given → a Limit holding them (over `base`'s scope) and the mask paths."""
    limit = Limit()
    paths: list[str] = []
    if scope_given(args):
        limit.scope.CopyFrom(build_scope(args, workspace, base.scope))
        paths.append("scope")
    if args.per is not None:
        limit.counted_per = PER[args.per]
        paths.append("counted_per")
    if args.metric is not None:
        limit.metric = METRICS[args.metric]
        paths.append("metric")
    if args.capacity is not None:
        if args.capacity <= 0:
            raise CliError("--capacity must be positive")
        limit.capacity = args.capacity
        paths.append("capacity")
    if args.window is not None:
        limit.window.CopyFrom(parse_window(args.window))
        paths.append("window")
    if args.shadow is not None:
        limit.shadow = args.shadow
        paths.append("shadow")
    if args.description is not None:
        limit.description = args.description
        paths.append("description")
    return limit, paths


NOUN = "limit"
SUMMARY = "create, list, show, update and delete rate and concurrency limits"


def _add_settings(parser: argparse.ArgumentParser, creating: bool) -> None:
    LIMITS.add_id(parser)
    parser.add_argument(
        "--metric",
        choices=list(METRICS),
        default="requests" if creating else None,
        help="what is counted: requests per window (default), tokens per window, "
        "or requests in flight",
    )
    parser.add_argument(
        "--capacity", type=int, required=creating, metavar="N", help="per window, or in flight"
    )
    parser.add_argument(
        "--window", metavar="DURATION", help="60s, 1m, 1h ... (default 1m; not for concurrent)"
    )
    parser.add_argument(
        "--shadow",
        action=argparse.BooleanOptionalAction,
        help="record what would be refused, never refuse",
    )
    parser.add_argument("--description", metavar="TEXT")
    add_scope_flags(parser)


LIMITS = ScopedNoun("Limit", "Limits", Limit, build_changes, LIST_COLUMNS, DETAIL_COLUMNS)


def register(group: CommandGroup) -> None:
    LIMITS.register(group, _add_settings)
