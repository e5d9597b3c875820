"""`oggy prices|cost|usage (cost)|route|audit|prompt-logs` against the fake AdminService."""

from __future__ import annotations

import json

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import audit_pb2, usage_pb2
from tests.integration.cli_fake_admin import FakeAdmin, demo_cli, last, oggy

fake = demo_cli

WS = "workspaces/demo"


def test_prices_set_sends_exact_micro_usd_and_replaces_by_stable_id(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = fake
    argv = ["prices", "set", "--model", "gpt-4o", "--provider", "openai"]
    assert oggy(env, *argv, "--input", "2.50", "--output", "10", "--cached-input", "1.25") == 0
    request = last(admin, "SetModelPrice")
    assert request.parent == ""  # the catalog, although OGGY_WORKSPACE is set
    price = request.model_price
    assert price.name == "prices/openai-gpt-4o"
    assert (price.input_per_mtok, price.output_per_mtok, price.cached_input_per_mtok) == (
        2_500_000, 10_000_000, 1_250_000,
    )  # fmt: skip
    assert not price.HasField("reasoning_per_mtok")
    assert "catalog version: 1" in capsys.readouterr().err
    # The same model again replaces the price instead of adding a second one.
    assert oggy(env, *argv, "--input", "2.00", "--output", "8") == 0
    assert list(admin.prices) == ["prices/openai-gpt-4o"]
    assert admin.prices["prices/openai-gpt-4o"].input_per_mtok == 2_000_000
    capsys.readouterr()
    # More than six decimals is refused before any call.
    calls = len(admin.requests)
    assert oggy(env, *argv, "--input", "0.0000001", "--output", "1") == 2
    assert "at most 6 decimals" in capsys.readouterr().err
    assert len(admin.requests) == calls

    # A workspace override, effective later.
    assert oggy(env, *argv, "--input", "1.5", "--output", "6", "--effective", "2025-07-01",
                "-w", "demo") == 0  # fmt: skip
    override = last(admin, "SetModelPrice")
    assert override.parent == WS
    assert override.model_price.name == f"{WS}/prices/openai-gpt-4o-20250701"
    assert override.model_price.effective_time.seconds == 1751328000
    capsys.readouterr()

    assert oggy(env, "prices", "list") == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split()[:5] == ["ID", "PROVIDER", "MODEL", "INPUT/1M", "OUTPUT/1M"]
    assert lines[1].split()[:5] == ["openai-gpt-4o", "openai", "gpt-4o", "$2.000000", "$8.000000"]
    assert len(lines) == 2  # overrides are listed only with --workspace
    assert "catalog version: 3" in captured.err
    assert oggy(env, "prices", "list", "-w", "demo", "--format", "json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [p["input_per_mtok"] for p in listed] == ["1500000"]
    assert oggy(env, "prices", "delete", "openai-gpt-4o-20250701", "-w", "demo") == 0
    assert admin.prices.keys() == {"prices/openai-gpt-4o"}


def test_cost_estimate_prints_dollars_and_catalog_version(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = fake
    oggy(env, "prices", "set", "--model", "gpt-4o-mini*", "--provider", "openai",
         "--input", "0.15", "--output", "0.60")  # fmt: skip
    capsys.readouterr()
    argv = ["cost", "estimate", "--model", "gpt-4o-mini", "--input", "1000", "--output", "500"]
    assert oggy(env, *argv) == 0
    out = capsys.readouterr().out
    # 1000 * 0.15 + 500 * 0.60 = 450 micro-USD.
    assert "cost:             $0.000450" in out
    assert "catalog version:  1" in out and "openai-gpt-4o-mini-any" in out
    request = last(admin, "EstimateCost")
    assert (request.input_tokens, request.output_tokens, request.workspace) == (1000, 500, "")
    assert oggy(env, *argv, "--format", "json") == 0
    estimated = json.loads(capsys.readouterr().out)
    assert estimated["cost_micro_usd"] == "450" and estimated["catalog_version"] == "1"

    assert oggy(env, "cost", "estimate", "--model", "mystery", "--input", "1", "--output", "1") == 1
    assert capsys.readouterr().err == "error: no price for model mystery\n"
    assert oggy(env, "cost", "estimate", "--model", "m", "--input", "-1", "--output", "1") == 2


def test_usage_summary_cost_column_and_new_dimensions(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = fake
    admin.rows = [
        usage_pb2.UsageSummaryRow(group=["gpt-4o"], requests=3, cost_micro_usd=1_234_567),
        usage_pb2.UsageSummaryRow(group=["mystery"], requests=2, unpriced_requests=2),
        usage_pb2.UsageSummaryRow(
            group=["mixed"], requests=2, cost_micro_usd=5, unpriced_requests=1
        ),
    ]
    assert oggy(env, "usage", "summary", "--by", "model") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-1] == "COST"
    assert lines[1].split()[-1] == "$1.234567"
    assert lines[2].split()[-1] == "unknown"
    assert lines[3].endswith("$0.000005 (1 unpriced)")

    argv = [
        "usage",
        "summary",
        "--by",
        "team",
        "--by",
        "policy-reason",
        "--team",
        "ml",
        "--blocked",
    ]
    assert oggy(env, *argv, "--app", "bot", "--workflow", "nightly", "--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["cost_micro_usd"] == "1234567"
    request = last(admin, "SummarizeUsage")
    assert list(request.group_by) == [
        usage_pb2.USAGE_GROUP_BY_TEAM,
        usage_pb2.USAGE_GROUP_BY_POLICY_REASON,
    ]
    f = request.filter
    assert (f.team, f.app, f.workflow, f.blocked_only) == (
        f"{WS}/actors/ml",
        "bot",
        "nightly",
        True,
    )


def test_usage_list_shows_event_cost(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = fake
    admin.events = [
        usage_pb2.UsageEvent(event_id="a", model="gpt-4o", total_tokens=10, cost_micro_usd=42),
        usage_pb2.UsageEvent(event_id="b", model="mystery", total_tokens=10),
        usage_pb2.UsageEvent(event_id="c", model="gpt-4o", http_status=403,
                             policy_reason="model_not_allowed"),
    ]  # fmt: skip
    assert oggy(env, "usage", "list", "--policy-reason", "model_not_allowed") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-1] == "COST"
    assert [line.split()[-1] for line in lines[1:3]] == ["$0.000042", "unknown"]
    assert not lines[3].endswith("unknown")  # no tokens: nothing to price
    assert last(admin, "ListUsageEvents").filter.policy_reason == "model_not_allowed"


def test_prices_unpriced(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = fake
    admin.unpriced = [
        pb.UnpricedModel(provider="openai", model="gpt-9", requests=4, total_tokens=99)
    ]
    assert oggy(env, "prices", "unpriced", "--since", "7d") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["openai", "gpt-9", "4", "99"]
    request = last(admin, "ListUnpricedModels")
    assert request.filter.workspace == WS and request.filter.HasField("start_time")


def test_route_create_list_delete(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = fake
    for provider in ("openai", "backup"):
        oggy({**env, "K": "sk-x"}, "provider", "add", provider, "--kind", "openai",
             "--models", "*", "--api-key-env", "K")  # fmt: skip
    capsys.readouterr()
    argv = ["route", "create", "gpt-fast", "--target", "openai:gpt-4o-mini", "backup"]
    assert oggy(env, *argv) == 0
    request = last(admin, "CreateRoute")
    assert (request.route_id, request.route.model) == ("gpt-fast", "gpt-fast")
    assert [(t.provider, t.model) for t in request.route.targets] == [
        (f"{WS}/providers/openai", "gpt-4o-mini"),
        (f"{WS}/providers/backup", ""),
    ]
    assert "openai:gpt-4o-mini > backup" in capsys.readouterr().out
    assert oggy(env, "route", "create", "Claude-3.5", "--target", "backup") == 0
    assert last(admin, "CreateRoute").route_id == "claude-3-5"
    assert oggy(env, "route", "create", "x", "--target", "nowhere") == 1
    assert capsys.readouterr().err.startswith("error: NOT_FOUND: ")

    assert oggy(env, "route", "list", "--format", "json") == 0
    assert [r["model"] for r in json.loads(capsys.readouterr().out)] == ["Claude-3.5", "gpt-fast"]
    assert oggy(env, "route", "delete", "Claude-3.5") == 0  # by alias
    assert capsys.readouterr().out == f"deleted {WS}/routes/claude-3-5\n"
    assert oggy(env, "route", "delete", "gpt-fast", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out) == {"name": f"{WS}/routes/gpt-fast", "deleted": True}
    assert admin.routes == {}


def _ts(seconds: int) -> Timestamp:
    return Timestamp(seconds=seconds)


def test_audit_list_scoped_limited_and_all_workspaces(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = fake
    admin.audit_events = [
        audit_pb2.AuditEvent(
            name=f"auditEvents/{i}", time=_ts(1_750_000_000 - i), principal="admin-token:ab12",
            method="CreateGatewayKey", resource=f"{ws}/keys/k{i}", workspace=ws,
        )
        for i, ws in enumerate([WS, "workspaces/other", WS, WS])
    ]  # fmt: skip
    assert oggy(env, "audit", "list", "--limit", "2") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[1].split()[3] == "keys/k0"
    assert last(admin, "ListAuditEvents").parent == WS
    assert oggy(env, "audit", "list", "--all-workspaces", "--format", "json") == 0
    events = json.loads(capsys.readouterr().out)
    assert [e["resource"] for e in events][1] == "workspaces/other/keys/k1"
    assert last(admin, "ListAuditEvents").parent == ""
    assert oggy(env, "audit", "list", "--limit", "0") == 2


def test_prompt_logs_list_and_purge(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = fake
    expired, kept = _ts(1_700_000_000), _ts(1_800_000_000)
    admin.prompt_logs = [
        pb.PromptLog(
            event_id="e1", workspace=WS, model="gpt-4o", key=f"{WS}/keys/kone", time=_ts(1),
            text=usage_pb2.PromptText(
                request_text="my card is [CARD] ok", response_text="noted",
                expire_time=kept, redactions={"card": 1},
            ),
        ),
        pb.PromptLog(event_id="e2", workspace=WS, text=usage_pb2.PromptText(expire_time=expired)),
    ]  # fmt: skip
    assert oggy(env, "prompt-logs", "list", "--limit", "1") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "card=1" in lines[1] and lines[1].endswith("my card is [CARD] ok")
    assert oggy(env, "prompt-logs", "list", "--format", "json") == 0
    logs = json.loads(capsys.readouterr().out)
    assert logs[0]["text"]["response_text"] == "noted" and len(logs) == 2
    assert oggy(env, "prompt-logs", "purge") == 0
    assert capsys.readouterr().out == "purged 1 prompt logs at 2025-06-01T12:00:00Z\n"
    assert [p.event_id for p in admin.prompt_logs] == ["e1"]
