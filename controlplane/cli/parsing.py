"""Parsing of the CLI's time and grouping arguments (pure, so it is tested without I/O)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from google.protobuf.duration_pb2 import Duration

from controlplane.cli.errors import CliError
from oggy.v1 import usage_pb2

_DURATION_PART = re.compile(r"(\d+)(w|d|h|m|s)")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}

GROUP_BY = {
    "actor": usage_pb2.USAGE_GROUP_BY_ACTOR,
    "key": usage_pb2.USAGE_GROUP_BY_KEY,
    "model": usage_pb2.USAGE_GROUP_BY_MODEL,
    "day": usage_pb2.USAGE_GROUP_BY_DAY,
    "provider": usage_pb2.USAGE_GROUP_BY_PROVIDER,
    "team": usage_pb2.USAGE_GROUP_BY_TEAM,
    "app": usage_pb2.USAGE_GROUP_BY_APP,
    "workflow": usage_pb2.USAGE_GROUP_BY_WORKFLOW,
    "environment": usage_pb2.USAGE_GROUP_BY_ENVIRONMENT,
    "error": usage_pb2.USAGE_GROUP_BY_ERROR_TYPE,
    "endpoint": usage_pb2.USAGE_GROUP_BY_ENDPOINT,
    "policy-reason": usage_pb2.USAGE_GROUP_BY_POLICY_REASON,
}


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `1h30m`, `7d`, `2w` → timedelta. Units are required."""
    value = text.strip().lower()
    pos = 0
    seconds = 0
    for match in _DURATION_PART.finditer(value):
        if match.start() != pos:
            break
        seconds += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not value or pos != len(value):
        raise CliError(f"invalid duration {text!r}: use e.g. 30m, 1h30m, 7d")
    return timedelta(seconds=seconds)


def format_duration(seconds: int) -> str:
    """86400 → `1d`, 5400 → `90m`: the largest unit that divides evenly."""
    if seconds == 0:
        return "0s"
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def duration_proto(text: str) -> Duration:
    """`24h` → a protobuf Duration."""
    result = Duration()
    result.FromTimedelta(parse_duration(text))
    return result


def parse_date(text: str) -> datetime:
    """An absolute ISO date or datetime (`2025-07-01`, `2025-07-01T09:00:00Z`); UTC if naive."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliError(
            f"invalid date {text!r}: use ISO 8601 (2025-07-01 or 2025-07-01T09:00:00Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def split_list(values: list[str] | None) -> list[str]:
    """`["a,b", "c"]` → `["a", "b", "c"]`: repeated and comma-separated values alike."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def parse_time(text: str, now: datetime) -> datetime:
    """A point in time: a duration ago (`1h`), `today`, or an ISO date/datetime (UTC if naive)."""
    value = text.strip()
    if value.lower() == "today":
        return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if value and value[0].isdigit() and value[-1].isalpha() and "-" not in value:
        return now - parse_duration(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(
            f"invalid time {text!r}: use a duration ago (1h, 7d), 'today' or ISO 8601 "
            "(2025-01-31 or 2025-01-31T12:00:00Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_group_by(values: list[str] | None) -> list[int]:
    """Names of grouping dimensions in order → UsageGroupBy values (duplicates dropped)."""
    result: list[int] = []
    for value in values or []:
        for part in value.split(","):
            # `policy_reason` as the proto and the JSON output spell it, or `policy-reason`.
            name = part.strip().lower().replace("_", "-")
            if not name:
                continue
            if name not in GROUP_BY:
                raise CliError(f"invalid --by {part!r}: choose from {', '.join(GROUP_BY)}")
            if GROUP_BY[name] not in result:
                result.append(GROUP_BY[name])
    return result


def group_by_label(value: int) -> str:
    for name, number in GROUP_BY.items():
        if number == value:
            return name
    return str(value)
