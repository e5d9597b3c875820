"""`oggy prices|cost|usage (cost)|route|audit|prompt-logs` against the real AdminService."""

from __future__ import annotations

import json
import re

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import usage_pb2
from tests.integration.cli_admin_server import (  # noqa: F401
    NOW,
    AdminServer,
    admin_fixture,
    demo_cli_fixture,
    oggy,
)
from tests.integration.cli_admin_server import usage_event as event

WS = "workspaces/demo"
CATALOG_VERSION = re.compile(r"^catalog version: (\S+)$", re.M)


def catalog_version(err: str) -> str:
    found = CATALOG_VERSION.search(err)
    assert found, err
    return found.group(1)


def test_prices_set_sends_exact_micro_usd_and_replaces_by_stable_id(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    argv = ["prices", "set", "--model", "gpt-4o", "--provider", "openai"]
    assert oggy(env, *argv, "--input", "2.50", "--output", "10", "--cached-input", "1.25") == 0
    request = admin.last("SetModelPrice")
    assert request.parent == ""  # the catalog, although OGGY_WORKSPACE is set
    price = request.model_price
    assert price.name == "prices/openai-gpt-4o"
    assert (price.input_per_mtok, price.output_per_mtok, price.cached_input_per_mtok) == (
        2_500_000, 10_000_000, 1_250_000,
    )  # fmt: skip
    assert not price.HasField("reasoning_per_mtok")
    first_version = catalog_version(capsys.readouterr().err)
    # The same model again replaces the price instead of adding a second one.
    assert oggy(env, *argv, "--input", "2.00", "--output", "8") == 0
    catalog = admin.client.stub.ListModelPrices(pb.ListModelPricesRequest()).model_prices
    assert [(p.name, p.input_per_mtok) for p in catalog] == [("prices/openai-gpt-4o", 2_000_000)]
    assert catalog_version(capsys.readouterr().err) != first_version
    # More than six decimals is refused before any call.
    calls = len(admin.requests)
    assert oggy(env, *argv, "--input", "0.0000001", "--output", "1") == 2
    assert "at most 6 decimals" in capsys.readouterr().err
    assert len(admin.requests) == calls

    # A workspace override, effective later.
    assert oggy(env, *argv, "--input", "1.5", "--output", "6", "--effective", "2025-07-01",
                "-w", "demo") == 0  # fmt: skip
    override = admin.last("SetModelPrice")
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
    listed_version = admin.client.stub.ListModelPrices(pb.ListModelPricesRequest()).catalog_version
    assert catalog_version(captured.err) == listed_version
    assert oggy(env, "prices", "list", "-w", "demo", "--format", "json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [p["input_per_mtok"] for p in listed] == ["1500000"]
    assert oggy(env, "prices", "delete", "openai-gpt-4o-20250701", "-w", "demo") == 0
    overrides = admin.client.stub.ListModelPrices(pb.ListModelPricesRequest(parent=WS))
    assert list(overrides.model_prices) == []


def test_cost_estimate_prints_dollars_and_catalog_version(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    oggy(env, "prices", "set", "--model", "gpt-4o-mini*", "--provider", "openai",
         "--input", "0.15", "--output", "0.60")  # fmt: skip
    version = catalog_version(capsys.readouterr().err)
    argv = ["cost", "estimate", "--model", "gpt-4o-mini", "--input", "1000", "--output", "500"]
    assert oggy(env, *argv) == 0
    out = capsys.readouterr().out
    # 1000 * 0.15 + 500 * 0.60 = 450 micro-USD.
    assert "cost:             $0.000450" in out
    assert f"catalog version:  {version}" in out and "openai-gpt-4o-mini-any" in out
    request = admin.last("EstimateCost")
    assert (request.input_tokens, request.output_tokens, request.workspace) == (1000, 500, "")
    assert oggy(env, *argv, "--format", "json") == 0
    estimated = json.loads(capsys.readouterr().out)
    assert estimated["cost_micro_usd"] == "450" and estimated["catalog_version"] == version

    assert oggy(env, "cost", "estimate", "--model", "mystery", "--input", "1", "--output", "1") == 1
    assert capsys.readouterr().err == "error: no price for model mystery\n"
    assert oggy(env, "cost", "estimate", "--model", "m", "--input", "-1", "--output", "1") == 2


def test_usage_summary_cost_column_and_new_dimensions(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    admin.insert_usage(
        [
            event("g1", 60, model="gpt-4o", total_tokens=10, cost_micro_usd=1_234_000),
            event("g2", 60, model="gpt-4o", total_tokens=10, cost_micro_usd=500),
            event("g3", 60, model="gpt-4o", total_tokens=10, cost_micro_usd=67),
            event("u1", 60, model="mystery", total_tokens=10),
            event("u2", 60, model="mystery", total_tokens=10),
            event("m1", 60, model="mixed", total_tokens=10, cost_micro_usd=5),
            event("m2", 60, model="mixed", total_tokens=10),
        ]
    )
    assert oggy(env, "usage", "summary", "--by", "model") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-1] == "COST"
    by_model = {line.split()[0]: line for line in lines[1:]}
    assert by_model["gpt-4o"].split()[-1] == "$1.234567"
    assert by_model["mystery"].split()[-1] == "unknown"
    assert by_model["mixed"].endswith("$0.000005 (1 unpriced)")

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
    assert json.loads(capsys.readouterr().out) == []  # nothing was blocked
    request = admin.last("SummarizeUsage")
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
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    admin.insert_usage(
        [
            event("a", 30, model="gpt-4o", total_tokens=10, cost_micro_usd=42),
            event("b", 20, model="mystery", total_tokens=10),
            event("c", 10, model="gpt-4o", http_status=403, policy_reason="model_not_allowed"),
        ]
    )
    assert oggy(env, "usage", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-1] == "COST"
    # Newest first: c (no tokens: nothing to price), b (no price), a.
    assert not lines[1].endswith("unknown") and "403" in lines[1]
    assert [line.split()[-1] for line in lines[2:]] == ["unknown", "$0.000042"]
    assert oggy(env, "usage", "list", "--policy-reason", "model_not_allowed", "--format",
                "json") == 0  # fmt: skip
    assert [e["event_id"] for e in json.loads(capsys.readouterr().out)] == ["c"]
    assert admin.last("ListUsageEvents").filter.policy_reason == "model_not_allowed"


def test_prices_unpriced(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    provider = f"{WS}/providers/openai"
    admin.insert_usage(
        [event(f"u{i}", 60, provider=provider, model="gpt-9", total_tokens=33) for i in range(3)]
        + [event("old", 30 * 86400, provider=provider, model="gpt-9", total_tokens=1)]
    )
    assert oggy(env, "prices", "unpriced", "--since", "7d") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == [provider, "gpt-9", "3", "99"]
    request = admin.last("ListUnpricedModels")
    assert request.filter.workspace == WS and request.filter.HasField("start_time")


def test_route_create_list_delete(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    for provider in ("openai", "backup"):
        oggy({**env, "K": "sk-x"}, "provider", "add", provider, "--kind", "openai",
             "--models", "*", "--api-key-env", "K")  # fmt: skip
    capsys.readouterr()
    argv = ["route", "create", "gpt-fast", "--target", "openai:gpt-4o-mini", "backup"]
    assert oggy(env, *argv) == 0
    request = admin.last("CreateRoute")
    assert (request.route_id, request.route.model) == ("gpt-fast", "gpt-fast")
    assert [(t.provider, t.model) for t in request.route.targets] == [
        (f"{WS}/providers/openai", "gpt-4o-mini"),
        (f"{WS}/providers/backup", ""),
    ]
    assert "openai:gpt-4o-mini > backup" in capsys.readouterr().out
    assert oggy(env, "route", "create", "Claude-3.5", "--target", "backup") == 0
    assert admin.last("CreateRoute").route_id == "claude-3-5"
    assert oggy(env, "route", "create", "x", "--target", "nowhere") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: INVALID_ARGUMENT: ") and f"{WS}/providers/nowhere" in err

    assert oggy(env, "route", "list", "--format", "json") == 0
    assert [r["model"] for r in json.loads(capsys.readouterr().out)] == ["Claude-3.5", "gpt-fast"]
    assert oggy(env, "route", "delete", "Claude-3.5") == 0  # by alias
    assert capsys.readouterr().out == f"deleted {WS}/routes/claude-3-5\n"
    assert oggy(env, "route", "delete", "gpt-fast", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out) == {"name": f"{WS}/routes/gpt-fast", "deleted": True}
    assert list(admin.client.stub.ListRoutes(pb.ListRoutesRequest(parent=WS)).routes) == []


def test_audit_list_scoped_limited_and_all_workspaces(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    assert oggy(env, "workspace", "create", "other") == 0
    assert oggy(env, "actor", "create", "ml", "--kind", "team") == 0
    assert oggy(env, "actor", "create", "ops", "--kind", "team", "-w", "other") == 0
    assert oggy(env, "actor", "create", "alice", "--kind", "user") == 0
    capsys.readouterr()
    assert oggy(env, "audit", "list", "--limit", "2") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3  # newest first, this workspace only
    assert [line.split()[2:4] for line in lines[1:]] == [
        ["CreateActor", "actors/alice"],
        ["CreateActor", "actors/ml"],
    ]
    assert lines[1].split()[1].startswith("admin-token:")  # who, never the token
    assert admin.token not in "".join(lines)
    assert admin.last("ListAuditEvents").parent == WS
    assert oggy(env, "audit", "list", "--all-workspaces", "--format", "json") == 0
    events = json.loads(capsys.readouterr().out)
    assert [e["resource"] for e in events] == [
        f"{WS}/actors/alice", "workspaces/other/actors/ops", f"{WS}/actors/ml",
        "workspaces/other", WS,
    ]  # fmt: skip
    assert admin.last("ListAuditEvents").parent == ""
    assert oggy(env, "audit", "list", "--limit", "0") == 2


def _ts(seconds: float) -> Timestamp:
    return Timestamp(seconds=int(seconds))


def test_prompt_logs_list_and_purge(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    now = NOW.timestamp()
    kept = usage_pb2.PromptText(
        request_text="my card is [CARD] ok", response_text="noted",
        expire_time=_ts(now + 86400), redactions={"card": 1},
    )  # fmt: skip
    admin.insert_usage(
        [
            event("e1", 10, model="gpt-4o", key=f"{WS}/keys/kone000000000001", prompt_text=kept),
            event("e2", 20, prompt_text=usage_pb2.PromptText(expire_time=_ts(now + 60))),
        ]
    )
    assert oggy(env, "prompt-logs", "list", "--limit", "1") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "card=1" in lines[1] and lines[1].endswith("my card is [CARD] ok")
    assert oggy(env, "prompt-logs", "list", "--format", "json") == 0
    logs = json.loads(capsys.readouterr().out)
    assert logs[0]["text"]["response_text"] == "noted" and len(logs) == 2
    admin.clock.now = now + 120  # e2's text has expired
    assert oggy(env, "prompt-logs", "purge") == 0
    assert capsys.readouterr().out == "purged 1 prompt logs at 2025-06-01T12:02:00Z\n"
    assert oggy(env, "prompt-logs", "list", "--format", "json") == 0
    assert [p["event_id"] for p in json.loads(capsys.readouterr().out)] == ["e1"]


def test_provider_kinds_are_spelled_as_provider_add_spells_them(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    price = ["--model", "llama3*", "--input", "0.1", "--output", "0.2"]
    assert oggy(env, "prices", "set", "--provider", "openai-compatible", *price) == 0
    request = admin.last("SetModelPrice")
    assert request.model_price.provider == "openai_compatible"  # the catalog's own spelling
    assert request.model_price.name == "prices/openai-compatible-llama3-any"
    assert "openai-compatible" in capsys.readouterr().out
    # The underscore form still works, and names the same price.
    assert oggy(env, "prices", "set", "--provider", "openai_compatible", *price) == 0
    assert admin.last("SetModelPrice").model_price.name == "prices/openai-compatible-llama3-any"
    capsys.readouterr()
    assert oggy(env, "prices", "list") == 0
    assert capsys.readouterr().out.splitlines()[1].split()[1] == "openai-compatible"

    estimate = ["cost", "estimate", "--model", "llama3-8b", "--input", "10", "--output", "10"]
    assert oggy(env, *estimate, "--provider", "openai-compatible") == 0
    assert admin.last("EstimateCost").provider == "openai_compatible"
    assert re.search(r"^provider: +openai-compatible$", capsys.readouterr().out, re.M)
    assert oggy(env, *estimate, "--provider", "openai_compatible") == 0
    assert oggy(env, "provider", "add", "local", "--kind", "openai_compatible", "--models", "m",
                "--base-url", "https://llm.example.com/v1", "--api-key-env", "K") == 2  # fmt: skip
    assert "$K is not set" in capsys.readouterr().err  # the kind was accepted
