"""`oggy prompt-logs list|purge`: redacted prompt text kept by `full` prompt logging."""

from __future__ import annotations

from controlplane.cli import output
from controlplane.cli.commands import usage
from controlplane.cli.commands.common import check_limit, list_up_to
from controlplane.cli.commands.group import CommandGroup
from controlplane.cli.context import Context
from oggy.v1 import admin_service_pb2

PREVIEW_CHARS = 60


def preview(text: str) -> str:
    """One line, at most PREVIEW_CHARS characters, for a table cell."""
    line = " ".join(text.split())
    return line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 3] + "..."


def _redactions(log: admin_service_pb2.PromptLog) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(log.text.redactions.items()))


COLUMNS: list[output.Column] = [
    ("time", lambda p: output.fmt_time(p.time)),
    ("event", lambda p: p.event_id),
    *usage.REQUESTER_COLUMNS,
    ("model", lambda p: p.model),
    ("redactions", _redactions),
    ("expires", lambda p: output.fmt_time(p.text.expire_time)),
    ("request", lambda p: preview(p.text.request_text)),
]


NOUN = "prompt-logs"
SUMMARY = "list and purge logged (redacted) prompt text"


def register(group: CommandGroup) -> None:
    list_p = group.action("list", list_logs, "newest first")
    list_p.add_argument("--limit", type=int, default=20, help="at most N logs (default 20)")
    list_p.add_argument("--key", help="key id, full name, or key prefix")
    list_p.add_argument("--actor", help="actor id or full name")
    list_p.add_argument("--model")
    list_p.add_argument("--since", help="a duration ago (1h, 7d), 'today' or ISO time")
    group.action("purge", purge, "delete prompt text past its retention now", scoped=False)


def list_logs(ctx: Context) -> int:
    limit = check_limit(ctx.args.limit)
    request = admin_service_pb2.ListPromptLogsRequest(
        filter=usage.build_filter(ctx.args, ctx.workspace)
    )
    items = list_up_to(ctx.client.stub.ListPromptLogs, request, "prompt_logs", limit)
    output.emit(ctx.format, items, COLUMNS)
    return 0


def purge(ctx: Context) -> int:
    response = ctx.client.stub.PurgePromptLogs(admin_service_pb2.PurgePromptLogsRequest())
    if ctx.format == "json":
        output.write_json(output.to_dict(response))
    else:
        print(f"purged {response.purged} prompt logs at {output.fmt_time(response.purge_time)}")
    return 0
