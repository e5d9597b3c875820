from datetime import UTC, datetime, timedelta, timezone

import pytest

from controlplane.cli import parsing
from controlplane.cli.errors import CliError
from oggy.v1 import usage_pb2

NOW = datetime(2025, 3, 10, 15, 30, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("1D", timedelta(days=1)),
        ("0s", timedelta(0)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parsing.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "10", "h", "1x", "1h 30m", "-1h", "1h30", "m1"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(CliError, match="invalid duration"):
        parsing.parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h", NOW - timedelta(hours=1)),
        ("7d", NOW - timedelta(days=7)),
        ("today", datetime(2025, 3, 10, tzinfo=UTC)),
        ("2025-01-31", datetime(2025, 1, 31, tzinfo=UTC)),
        ("2025-01-31T12:00:00Z", datetime(2025, 1, 31, 12, tzinfo=UTC)),
        (
            "2025-01-31T12:00:00+02:00",
            datetime(2025, 1, 31, 12, tzinfo=timezone(timedelta(hours=2))),
        ),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    assert parsing.parse_time(text, NOW) == expected


def test_parse_time_rejects_garbage() -> None:
    with pytest.raises(CliError, match="invalid time"):
        parsing.parse_time("yesterday-ish", NOW)


def test_parse_group_by_keeps_order_and_drops_duplicates() -> None:
    assert parsing.parse_group_by(["model", "day,actor", "model"]) == [
        usage_pb2.USAGE_GROUP_BY_MODEL,
        usage_pb2.USAGE_GROUP_BY_DAY,
        usage_pb2.USAGE_GROUP_BY_ACTOR,
    ]
    assert parsing.parse_group_by(None) == []


def test_parse_group_by_rejects_unknown() -> None:
    with pytest.raises(CliError, match="invalid --by 'region'"):
        parsing.parse_group_by(["team", "region"])


def test_parse_group_by_new_dimensions() -> None:
    assert parsing.parse_group_by(["team,app", "workflow", "environment"]) == [
        usage_pb2.USAGE_GROUP_BY_TEAM,
        usage_pb2.USAGE_GROUP_BY_APP,
        usage_pb2.USAGE_GROUP_BY_WORKFLOW,
        usage_pb2.USAGE_GROUP_BY_ENVIRONMENT,
    ]
    assert parsing.parse_group_by(["error", "endpoint", "policy-reason"]) == [
        usage_pb2.USAGE_GROUP_BY_ERROR_TYPE,
        usage_pb2.USAGE_GROUP_BY_ENDPOINT,
        usage_pb2.USAGE_GROUP_BY_POLICY_REASON,
    ]
    # As the proto and JSON output spell it (`oggy usage summary --by policy_reason`).
    assert parsing.parse_group_by(["policy_reason"]) == [usage_pb2.USAGE_GROUP_BY_POLICY_REASON]


def test_group_by_label_round_trips() -> None:
    for name, value in parsing.GROUP_BY.items():
        assert parsing.group_by_label(value) == name


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("10m", 600), ("24h", 86400), ("7d", 604800), ("0s", 0)]
)
def test_duration_proto(text: str, seconds: int) -> None:
    d = parsing.duration_proto(text)
    assert (d.seconds, d.nanos) == (seconds, 0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (45, "45s"), (600, "10m"), (5400, "90m"), (86400, "1d"), (2592000, "30d"),
     (1209600, "14d")],
)  # fmt: skip
def test_format_duration_round_trips(seconds: int, text: str) -> None:
    assert parsing.format_duration(seconds) == text
    assert parsing.parse_duration(text) == timedelta(seconds=seconds)


def test_parse_date() -> None:
    assert parsing.parse_date("2025-07-01") == datetime(2025, 7, 1, tzinfo=UTC)
    assert parsing.parse_date("2025-07-01T09:00:00Z") == datetime(2025, 7, 1, 9, tzinfo=UTC)
    with pytest.raises(CliError, match="invalid date"):
        parsing.parse_date("7d")


def test_split_list() -> None:
    assert parsing.split_list(["a,b", " c ", ",,"]) == ["a", "b", "c"]
    assert parsing.split_list(None) == []
    assert parsing.split_list([]) == []
