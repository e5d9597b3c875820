"""`oggy limit` and `oggy budget` against the real AdminService, in-process on loopback."""

from __future__ import annotations

import json

import pytest

from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import budget_pb2, limit_pb2, scope_pb2, usage_pb2
from tests.integration.cli_admin_server import (  # noqa: F401
    AdminServer,
    admin_fixture,
    demo_cli_fixture,
    oggy,
)
from tests.integration.cli_admin_server import usage_event as event

WS = "workspaces/demo"
L = limit_pb2.Limit
B = budget_pb2.Budget


def _team(admin: AdminServer, env: dict[str, str]) -> None:
    assert oggy(env, "actor", "create", "ml", "--kind", "team") == 0
    assert oggy(env, "actor", "create", "alice", "--kind", "user", "--team", "ml") == 0


def test_limit_create_list_show_update_delete(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    _team(admin, env)
    argv = ["limit", "create", "ml-rpm", "--team", "ml", "--model", "gpt-4o*", "--capacity", "600"]
    assert oggy(env, *argv) == 0
    out = capsys.readouterr().out
    assert "team ml, model gpt-4o*" in out and "1m" in out
    sent = admin.last("CreateLimit")
    assert sent.limit_id == "ml-rpm" and sent.request_id
    assert sent.limit.scope == scope_pb2.Scope(team=f"{WS}/actors/ml", model="gpt-4o*")
    assert sent.limit.metric == L.METRIC_REQUESTS and not sent.limit.HasField("window")

    argv = ["limit", "create", "alice-tpm", "--actor", "alice", "--metric", "tokens"]
    assert oggy(env, *argv, "--capacity", "1000", "--window", "1h", "--per", "actor") == 0
    assert oggy(env, "limit", "create", "inflight", "--metric", "concurrent", "--capacity", "3",
                "--shadow") == 0  # fmt: skip
    capsys.readouterr()
    assert oggy(env, "limit", "list") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ID", "METRIC", "CAPACITY", "WINDOW", "PER", "SCOPE", "SHADOW"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows["alice-tpm"][:5] == ["alice-tpm", "tokens", "1000", "1h", "actor"]
    assert rows["inflight"] == ["inflight", "concurrent", "3", "scope", "workspace", "yes"]

    # Update: only the flags given; the scope flag is laid over the stored scope.
    assert oggy(env, "limit", "update", "ml-rpm", "--model", "o3*", "--window", "30s") == 0
    update = admin.last("UpdateLimit")
    assert list(update.update_mask.paths) == ["scope", "window"] and update.limit.etag
    assert update.limit.scope == scope_pb2.Scope(team=f"{WS}/actors/ml", model="o3*")
    capsys.readouterr()
    assert oggy(env, "limit", "update", "ml-rpm", "--team", "", "--format", "json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["scope"]["team"] == "" and shown["scope"]["model"] == "o3*"
    assert shown["window"] == "30s" and shown["capacity"] == "600"
    assert oggy(env, "limit", "update", "ml-rpm") == 2
    assert "nothing to change" in capsys.readouterr().err

    assert oggy(env, "limit", "show", "ml-rpm", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)["name"] == f"{WS}/limits/ml-rpm"
    # The server's refusal reaches the user as one line.
    assert oggy(env, "limit", "create", "bad", "--capacity", "1", "--window", "2d") == 1
    assert "window must be whole seconds" in capsys.readouterr().err
    assert oggy(env, "limit", "create", "bad", "--capacity", "0") == 2
    assert oggy(env, "limit", "delete", "ml-rpm") == 0
    assert "deleted workspaces/demo/limits/ml-rpm" in capsys.readouterr().out
    listed = admin.client.stub.ListLimits(pb.ListLimitsRequest(parent=WS)).limits
    assert sorted(x.name.rsplit("/", 1)[1] for x in listed) == ["alice-tpm", "inflight"]


def test_budget_create_in_dollars_list_update_delete(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    _team(admin, env)
    argv = ["budget", "create", "ml-month", "--team", "ml", "--amount", "100"]
    assert oggy(env, *argv) == 0
    sent = admin.last("CreateBudget").budget
    assert sent.amount_micro_usd == 100_000_000
    assert (sent.period, sent.enforcement) == (B.PERIOD_MONTH, B.ENFORCEMENT_HARD)
    argv = ["budget", "create", "per-dev", "--team", "ml", "--amount", "$12.50", "--per", "actor"]
    assert oggy(env, *argv, "--period", "day", "--enforcement", "soft", "--thresholds",
                "90,50%") == 0  # fmt: skip
    sent = admin.last("CreateBudget").budget
    assert sent.amount_micro_usd == 12_500_000 and list(sent.threshold_percents) == [90, 50]
    assert sent.counted_per == scope_pb2.COUNTED_PER_ACTOR
    capsys.readouterr()
    assert oggy(env, "budget", "list") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ID", "AMOUNT", "PERIOD", "ENFORCEMENT", "PER", "SCOPE",
                                "THRESHOLDS"]  # fmt: skip
    rows = {line.split()[0]: line for line in table[1:]}
    assert rows["per-dev"].split() == [
        "per-dev", "$12.500000", "day", "soft", "actor", "team", "ml", "50%,90%",
    ]  # fmt: skip
    assert "50%,80%,100%" in rows["ml-month"]

    assert oggy(env, "budget", "update", "ml-month", "--amount", "250.75", "--period", "week") == 0
    update = admin.last("UpdateBudget")
    assert list(update.update_mask.paths) == ["amount_micro_usd", "period"]
    assert update.budget.amount_micro_usd == 250_750_000
    capsys.readouterr()
    assert oggy(env, "budget", "show", "ml-month", "--format", "json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["amount_micro_usd"] == "250750000" and shown["period"] == "PERIOD_WEEK"
    for bad in (["--amount", "0"], ["--amount", "1.0000001"], ["--thresholds", "x"]):
        assert oggy(env, "budget", "create", "bad", "--amount", "1", *bad) == 2
    assert oggy(env, "budget", "create", "bad", "--amount", "1", "--thresholds", "0") == 1
    assert "thresholds must be 1 to 1000" in capsys.readouterr().err
    assert oggy(env, "budget", "delete", "per-dev", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out) == {
        "name": f"{WS}/budgets/per-dev",
        "deleted": True,
    }


def test_usage_summary_by_policy_reason(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    admin.insert_usage(
        [
            event("b1", 60, model="m", http_status=402, policy_reason="budget_exceeded"),
            event("b2", 60, model="m", http_status=402, policy_reason="budget_exceeded"),
            event("r1", 60, model="m", http_status=429, policy_reason="rate_limited"),
            event("ok", 60, model="m", http_status=200, total_tokens=3),
        ]
    )
    assert oggy(env, "usage", "summary", "--by", "policy_reason", "--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert list(admin.last("SummarizeUsage").group_by) == [usage_pb2.USAGE_GROUP_BY_POLICY_REASON]
    assert len(rows) == 3
    assert oggy(env, "usage", "summary", "--by", "policy-reason") == 0
    table = capsys.readouterr().out
    assert "budget_exceeded" in table and "rate_limited" in table
