"""Pure translation of usage queries: events ⇄ rows, filters → SQL, page tokens, group-by.

Shared by every SQL usage store; the SQL here sticks to what SQLite and
PostgreSQL both accept, with `?` placeholders (a PostgreSQL store rewrites them).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.usage.errors import InvalidArgument
from oggy.v1 import admin_service_pb2, usage_pb2

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

# Table columns in order; each is the UsageEvent field of the same name, except
# start_us (start_time as integer unix microseconds).
COLUMNS: tuple[str, ...] = (
    "event_id",
    "workspace",
    "key",
    "actor",
    "provider",
    "model",
    "endpoint",
    "stream",
    "http_status",
    "error_type",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "token_source",
    "start_us",
    "latency_ms",
    "time_to_first_token_ms",
    "dataplane_id",
    "client_ip",
    "request_id",
    "upstream_request_id",
)
_OPTIONAL = ("cached_tokens", "reasoning_tokens")

_GROUP_COLUMNS: dict[int, str] = {
    usage_pb2.USAGE_GROUP_BY_ACTOR: "actor",
    usage_pb2.USAGE_GROUP_BY_KEY: "key",
    usage_pb2.USAGE_GROUP_BY_MODEL: "model",
    usage_pb2.USAGE_GROUP_BY_PROVIDER: "provider",
}


def timestamp_to_us(ts: Timestamp) -> int:
    return ts.seconds * 1_000_000 + ts.nanos // 1000


def us_to_timestamp(us: int) -> Timestamp:
    seconds, micros = divmod(us, 1_000_000)  # floor division keeps nanos >= 0
    return Timestamp(seconds=seconds, nanos=micros * 1000)


def event_to_row(event: usage_pb2.UsageEvent) -> tuple[Any, ...]:
    values: dict[str, Any] = {f: getattr(event, f) for f in COLUMNS if f != "start_us"}
    values["stream"] = int(event.stream)
    for f in _OPTIONAL:
        values[f] = getattr(event, f) if event.HasField(f) else None
    values["start_us"] = timestamp_to_us(event.start_time)
    return tuple(values[c] for c in COLUMNS)


def row_to_event(row: Sequence[Any]) -> usage_pb2.UsageEvent:
    values = dict(zip(COLUMNS, row, strict=True))
    start_us = values.pop("start_us")
    values["stream"] = bool(values["stream"])
    for f in _OPTIONAL:
        if values[f] is None:
            del values[f]
    event = usage_pb2.UsageEvent(**values)
    event.start_time.CopyFrom(us_to_timestamp(start_us))
    return event


@dataclass(frozen=True, slots=True)
class Where:
    sql: str
    params: tuple[Any, ...]


def where_clause(flt: admin_service_pb2.UsageFilter) -> Where:
    if not flt.workspace:
        raise InvalidArgument("filter.workspace is required")
    clauses = ["workspace = ?"]
    params: list[Any] = [flt.workspace]
    for field in ("key", "actor", "model", "provider"):
        value = getattr(flt, field)
        if value:
            clauses.append(f"{field} = ?")
            params.append(value)
    if flt.HasField("start_time"):
        clauses.append("start_us >= ?")
        params.append(timestamp_to_us(flt.start_time))
    if flt.HasField("end_time"):
        clauses.append("start_us < ?")
        params.append(timestamp_to_us(flt.end_time))
    if flt.errors_only:
        clauses.append("error_type <> ''")
    return Where(" AND ".join(clauses), tuple(params))


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument("page_size must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _filter_scope(flt: admin_service_pb2.UsageFilter) -> str:
    # Binds a token to its filter: reusing it with another filter is an error, not
    # a silently wrong page.
    return hashlib.sha256(flt.SerializeToString(deterministic=True)).hexdigest()[:16]


def encode_page_token(flt: admin_service_pb2.UsageFilter, start_us: int, event_id: str) -> str:
    raw = json.dumps([_filter_scope(flt), start_us, event_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(flt: admin_service_pb2.UsageFilter, token: str) -> tuple[int, str] | None:
    """(start_us, event_id) of the last event of the previous page; None for the first page."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        scope, start_us, event_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidArgument("page_token is malformed") from None
    if not (isinstance(start_us, int) and isinstance(event_id, str) and isinstance(scope, str)):
        raise InvalidArgument("page_token is malformed")
    if scope != _filter_scope(flt):
        raise InvalidArgument("page_token does not belong to this filter")
    return start_us, event_id


def after_clause(after: tuple[int, str] | None) -> Where | None:
    """Keyset condition for "older than the last row seen" in (start_us, event_id) DESC order."""
    if after is None:
        return None
    start_us, event_id = after
    return Where(
        "(start_us < ? OR (start_us = ? AND event_id < ?))", (start_us, start_us, event_id)
    )


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


SUMMARY_AGGREGATES = (
    "COUNT(*)",
    "COALESCE(SUM(CASE WHEN error_type <> '' THEN 1 ELSE 0 END), 0)",
    "COALESCE(SUM(prompt_tokens), 0)",
    "COALESCE(SUM(completion_tokens), 0)",
    "COALESCE(SUM(total_tokens), 0)",
    "COALESCE(SUM(cached_tokens), 0)",
    "COALESCE(SUM(reasoning_tokens), 0)",
)


def summary_row(groups: int, row: Sequence[Any]) -> usage_pb2.UsageSummaryRow:
    keys, totals = row[:groups], row[groups:]
    return usage_pb2.UsageSummaryRow(
        group=[str(k) if k is not None else "" for k in keys],
        requests=totals[0],
        errors=totals[1],
        prompt_tokens=totals[2],
        completion_tokens=totals[3],
        total_tokens=totals[4],
        cached_tokens=totals[5],
        reasoning_tokens=totals[6],
    )
