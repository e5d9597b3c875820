"""`oggy limit|budget`: flags → requests, and `budget status|crossings` rendering with a
stubbed AdminService (no network: those RPCs belong to the budget accounting)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.cli import main
from controlplane.cli.commands import budget, limit
from controlplane.cli.commands.scope_flags import build_scope, scope_label
from controlplane.cli.context import Context
from controlplane.cli.errors import CliError
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import budget_pb2, limit_pb2, scope_pb2

WS = "workspaces/demo"
B = budget_pb2.Budget
L = limit_pb2.Limit


def parse(*argv: str) -> Any:
    return main.build_parser().parse_args(list(argv))


def ts(seconds: int) -> Timestamp:
    return Timestamp(seconds=seconds)


class Stub:
    """Answers the RPCs a test scripts, and keeps the requests."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.requests: list[tuple[str, Any]] = []

    def __getattr__(self, method: str) -> Any:
        def call(request: Any) -> Any:
            self.requests.append((method, request))
            return self.answers[method]

        return call


def run(stub: Stub, *argv: str) -> int:
    ctx = Context(parse(*argv, "-w", "demo"), env={})
    ctx.__dict__["client"] = type("Client", (), {"stub": stub, "close": lambda self: None})()
    return ctx.args.handler(ctx)


def test_limit_flags_to_a_limit_and_mask() -> None:
    args = parse(
        "limit", "create", "l", "--team", "ml", "--model", "gpt-4o*", "--key", "oggy_live_kone",
        "--provider", "openai", "--app", "bot", "--env", "prod", "--workflow", "etl",
        "--capacity", "5", "--window", "1h", "--per", "key", "--shadow", "--description", "d",
    )  # fmt: skip
    assert args.handler == limit.LIMITS.create
    body, paths = limit.build_changes(args, WS, L())
    assert body.scope == scope_pb2.Scope(
        team=f"{WS}/actors/ml",
        model="gpt-4o*",
        key=f"{WS}/keys/kone",
        provider=f"{WS}/providers/openai",
        app="bot",
        environment="prod",
        workflow="etl",
    )
    assert (body.metric, body.capacity, body.window.seconds) == (L.METRIC_REQUESTS, 5, 3600)
    assert (body.counted_per, body.shadow) == (scope_pb2.COUNTED_PER_KEY, True)
    assert paths == [
        "scope", "counted_per", "metric", "capacity", "window", "shadow", "description",
    ]  # fmt: skip
    # Update: nothing but the flags given; --no-shadow turns the switch off.
    body, paths = limit.build_changes(parse("limit", "update", "l", "--no-shadow"), WS, L())
    assert paths == ["shadow"] and not body.shadow


@pytest.mark.parametrize(
    "argv",
    [
        ("limit", "create", "l", "--capacity", "0"),
        ("limit", "create", "l", "--capacity", "1", "--window", "0s"),
        ("limit", "create", "l", "--capacity", "1", "--window", "soon"),
        ("limit", "create", "l", "--capacity", "1", "--team", "Not An Id"),
        ("budget", "create", "b", "--amount", "-1"),
        ("budget", "create", "b", "--amount", "$0"),
        ("budget", "create", "b", "--amount", "1", "--thresholds", "fifty"),
    ],
)
def test_bad_flags_are_usage_errors(argv: tuple[str, ...]) -> None:
    args = parse(*argv)
    build = limit.build_changes if argv[0] == "limit" else budget.build_changes
    with pytest.raises(CliError):
        build(args, WS, L() if argv[0] == "limit" else B())


def test_scope_flags_over_a_stored_scope() -> None:
    stored = scope_pb2.Scope(team=f"{WS}/actors/ml", model="gpt-4o*")
    scope = build_scope(parse("limit", "update", "l", "--team", "", "--actor", "alice"), WS, stored)
    assert scope == scope_pb2.Scope(actor=f"{WS}/actors/alice", model="gpt-4o*")
    assert scope_label(scope) == "actor alice, model gpt-4o*"
    assert scope_label(scope_pb2.Scope()) == "workspace"


def test_budget_flags() -> None:
    args = parse("budget", "create", "b", "--amount", "$12.50", "--thresholds", "80%,50")
    body, _ = budget.build_changes(args, WS, B())
    assert body.amount_micro_usd == 12_500_000 and list(body.threshold_percents) == [80, 50]
    assert (body.period, body.enforcement) == (B.PERIOD_MONTH, B.ENFORCEMENT_HARD)


STATUS = pb.GetBudgetStatusResponse(
    budget=B(name=f"{WS}/budgets/per-dev", counted_per=scope_pb2.COUNTED_PER_ACTOR),
    statuses=[
        budget_pb2.BudgetStatus(
            budget=f"{WS}/budgets/per-dev",
            member=f"{WS}/actors/alice",
            amount_micro_usd=12_500_000,
            spent_micro_usd=10_000_000,
            reserved_micro_usd=250_000,
            remaining_micro_usd=2_250_000,
            percent=80.0,
            period_start=ts(1_748_736_000),  # 2025-06-01
            reset_time=ts(1_751_328_000),  # 2025-07-01
            crossings=[budget_pb2.BudgetCrossing(threshold_percent=50)],
        ),
        budget_pb2.BudgetStatus(
            member=f"{WS}/actors/bob",
            amount_micro_usd=12_500_000,
            spent_micro_usd=12_600_000,
            percent=100.8,
            exhausted=True,
            period_start=ts(1_748_736_000),
            reset_time=ts(1_751_328_000),
        ),
    ],
)


def test_budget_status_table(capsys: pytest.CaptureFixture[str]) -> None:
    stub = Stub(GetBudgetStatus=STATUS)
    assert run(stub, "budget", "status", "per-dev") == 0
    assert stub.requests == [
        ("GetBudgetStatus", pb.GetBudgetStatusRequest(name=f"{WS}/budgets/per-dev"))
    ]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"# {WS}/budgets/per-dev since 2025-06-01T00:00:00Z"
    assert lines[1].split() == [
        "MEMBER", "AMOUNT", "SPENT", "RESERVED", "REMAINING", "PERCENT", "RESET", "AT", "EXHAUSTED",
    ]  # fmt: skip
    assert lines[2].split() == [
        "alice", "$12.500000", "$10.000000", "$0.250000", "$2.250000", "80.0%",
        "2025-07-01T00:00:00Z",
    ]  # fmt: skip
    assert lines[3].split()[-3:] == ["100.8%", "2025-07-01T00:00:00Z", "yes"]


def test_budget_status_of_one_member_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    stub = Stub(GetBudget=pb.GetBudgetResponse(budget=STATUS.budget), GetBudgetStatus=STATUS)
    assert run(stub, "budget", "status", "per-dev", "--member", "alice", "--format", "json") == 0
    assert stub.requests[-1][1].member == f"{WS}/actors/alice"
    shown = json.loads(capsys.readouterr().out)
    assert shown["statuses"][0]["spent_micro_usd"] == "10000000"
    assert shown["statuses"][0]["reset_time"] == "2025-07-01T00:00:00Z"
    # A shared budget has no members to pick.
    shared = Stub(GetBudget=pb.GetBudgetResponse(budget=B(name=f"{WS}/budgets/b")))
    with pytest.raises(CliError, match="no members"):
        run(shared, "budget", "status", "b", "--member", "alice")


def test_budget_status_of_a_total_budget_never_resets(capsys: pytest.CaptureFixture[str]) -> None:
    total = pb.GetBudgetStatusResponse(
        budget=B(name=f"{WS}/budgets/t"),
        statuses=[budget_pb2.BudgetStatus(amount_micro_usd=1, period_start=ts(0))],
    )
    assert run(Stub(GetBudgetStatus=total), "budget", "status", "t") == 0
    row = capsys.readouterr().out.splitlines()[2].split()
    assert row[0] == "(all)" and row[-1] == "never"


def test_budget_crossings(capsys: pytest.CaptureFixture[str]) -> None:
    crossing = budget_pb2.BudgetCrossing(
        name=f"{WS}/budgets/per-dev/crossings/c1",
        budget=f"{WS}/budgets/per-dev",
        member=f"{WS}/actors/alice",
        threshold_percent=80,
        spent_micro_usd=10_000_000,
        amount_micro_usd=12_500_000,
        cross_time=ts(1_749_000_000),
        period_start=ts(1_748_736_000),
    )
    page = pb.ListBudgetCrossingsResponse(crossings=[crossing])
    stub = Stub(ListBudgetCrossings=page)
    assert run(stub, "budget", "crossings", "per-dev", "--limit", "5") == 0
    request = stub.requests[0][1]
    assert (request.parent, request.page_size) == (f"{WS}/budgets/per-dev", 5)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:5] == ["per-dev", "alice", "80%", "$10.000000", "$12.500000"]
    assert run(stub, "budget", "crossings", "--format", "json") == 0
    assert stub.requests[-1][1].parent == WS
    assert json.loads(capsys.readouterr().out)[0]["threshold_percent"] == 80
