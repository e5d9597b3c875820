"""Pure translation of usage queries: filters → SQL, page tokens, group-by, aggregates.

Shared by every SQL usage store; the SQL here sticks to what SQLite and
PostgreSQL both accept, with `?` placeholders (see Dialect.sql).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from controlplane.usage.errors import InvalidArgument
from controlplane.usage.rows import timestamp_to_us
from oggy.v1 import admin_service_pb2, usage_pb2

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

# Logical column name → SQL expression (for joins and tables with other names).
ColumnMap = Callable[[str], str]


def plain_column(name: str) -> str:
    return name


_GROUP_COLUMNS: dict[int, str] = {
    usage_pb2.USAGE_GROUP_BY_ACTOR: "actor",
    usage_pb2.USAGE_GROUP_BY_KEY: "key",
    usage_pb2.USAGE_GROUP_BY_MODEL: "model",
    usage_pb2.USAGE_GROUP_BY_PROVIDER: "provider",
    usage_pb2.USAGE_GROUP_BY_TEAM: "team",
    usage_pb2.USAGE_GROUP_BY_APP: "app",
    usage_pb2.USAGE_GROUP_BY_WORKFLOW: "workflow",
    usage_pb2.USAGE_GROUP_BY_ENVIRONMENT: "environment",
    usage_pb2.USAGE_GROUP_BY_ERROR_TYPE: "error_type",
    usage_pb2.USAGE_GROUP_BY_ENDPOINT: "endpoint",
    usage_pb2.USAGE_GROUP_BY_POLICY_REASON: "policy_reason",
}
_EQUALITY_FILTERS = (
    "key",
    "actor",
    "model",
    "provider",
    "team",
    "app",
    "workflow",
    "policy_reason",
)


@dataclass(frozen=True, slots=True)
class Where:
    sql: str
    params: tuple[Any, ...]


def where_clause(flt: admin_service_pb2.UsageFilter, column: ColumnMap = plain_column) -> Where:
    if not flt.workspace:
        raise InvalidArgument("filter.workspace is required")
    clauses = [f"{column('workspace')} = ?"]
    params: list[Any] = [flt.workspace]
    for field in _EQUALITY_FILTERS:
        value = getattr(flt, field)
        if value:
            clauses.append(f"{column(field)} = ?")
            params.append(value)
    if flt.HasField("start_time"):
        clauses.append(f"{column('start_us')} >= ?")
        params.append(timestamp_to_us(flt.start_time))
    if flt.HasField("end_time"):
        clauses.append(f"{column('start_us')} < ?")
        params.append(timestamp_to_us(flt.end_time))
    if flt.errors_only:
        clauses.append(f"{column('error_type')} <> ''")
    if flt.blocked_only:
        clauses.append(f"{column('policy_reason')} <> ''")
    return Where(" AND ".join(clauses), tuple(params))


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument("page_size must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _scope(kind: str, request: Message) -> str:
    # Binds a token to its query: reusing it with another filter (or another list
    # RPC) is an error, not a silently wrong page.
    digest = hashlib.sha256(kind.encode() + b"\0" + request.SerializeToString(deterministic=True))
    return digest.hexdigest()[:16]


def encode_page_token(
    flt: admin_service_pb2.UsageFilter, start_us: int, event_id: str, kind: str = "events"
) -> str:
    raw = json.dumps([_scope(kind, flt), start_us, event_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(
    flt: admin_service_pb2.UsageFilter, token: str, kind: str = "events"
) -> tuple[int, str] | None:
    """(start_us, event_id) of the last row of the previous page; None for the first page."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        scope, start_us, event_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidArgument("page_token is malformed") from None
    if not (isinstance(start_us, int) and isinstance(event_id, str) and isinstance(scope, str)):
        raise InvalidArgument("page_token is malformed")
    if scope != _scope(kind, flt):
        raise InvalidArgument("page_token does not belong to this filter")
    return start_us, event_id


def after_clause(after: tuple[int, str] | None, column: ColumnMap = plain_column) -> Where | None:
    """Keyset condition for "older than the last row seen" in (start_us, event_id) DESC order."""
    if after is None:
        return None
    start_us, event_id = after
    t, e = column("start_us"), column("event_id")
    return Where(f"({t} < ? OR ({t} = ? AND {e} < ?))", (start_us, start_us, event_id))


def group_columns(group_by: Sequence[int], day_sql: str) -> list[str]:
    """SQL expressions for each dimension; `day_sql` is the dialect's UTC-day expression."""
    columns = []
    for dim in group_by:
        if dim == usage_pb2.USAGE_GROUP_BY_DAY:
            columns.append(day_sql)
        elif dim in _GROUP_COLUMNS:
            columns.append(_GROUP_COLUMNS[dim])
        else:
            raise InvalidArgument(f"group_by value {dim} is not supported")
    return columns


# A request is unpriced when its cost is unknown although it used tokens (a
# request blocked before reaching a provider costs nothing and is not "unpriced").
UNPRICED_SQL = "cost_micro_usd IS NULL AND total_tokens > 0"

SUMMARY_AGGREGATES = (
    "COUNT(*)",
    "SUM(CASE WHEN error_type <> '' THEN 1 ELSE 0 END)",
    "SUM(prompt_tokens)",
    "SUM(completion_tokens)",
    "SUM(total_tokens)",
    "SUM(cached_tokens)",
    "SUM(reasoning_tokens)",
    "SUM(cache_creation_tokens)",
    "SUM(cost_micro_usd)",
    f"SUM(CASE WHEN {UNPRICED_SQL} THEN 1 ELSE 0 END)",
)


def _int(value: Any) -> int:
    return int(value) if value is not None else 0  # PostgreSQL sums are NUMERIC


def summary_row(groups: int, row: Sequence[Any]) -> usage_pb2.UsageSummaryRow:
    keys, totals = row[:groups], [_int(v) for v in row[groups:]]
    return usage_pb2.UsageSummaryRow(
        group=[str(k) if k is not None else "" for k in keys],
        requests=totals[0],
        errors=totals[1],
        prompt_tokens=totals[2],
        completion_tokens=totals[3],
        total_tokens=totals[4],
        cached_tokens=totals[5],
        reasoning_tokens=totals[6],
        cache_creation_tokens=totals[7],
        cost_micro_usd=totals[8],
        unpriced_requests=totals[9],
    )


def unpriced_model(row: Sequence[Any]) -> admin_service_pb2.UnpricedModel:
    provider, model, requests, tokens = row
    return admin_service_pb2.UnpricedModel(
        provider=provider, model=model, requests=_int(requests), total_tokens=_int(tokens)
    )


def key_workspace(key_name: str) -> str | None:
    """`workspaces/{w}/keys/{k}` → `workspaces/{w}`; None for anything else."""
    parts = key_name.split("/")
    if len(parts) != 4 or parts[0] != "workspaces" or parts[2] != "keys":
        return None
    return "/".join(parts[:2])
