"""Section "quota" (issue 11): what budgets and rate limits cost the data plane.

The data plane of the pass-through section serves two workspaces side by side: `bench`
(no limits) and `bench-quota`, where one requests-per-minute limit, one
tokens-per-minute limit and one hard budget apply to every request — each set far
above the load, so every request is admitted, but each is reserved, leased, settled and
reported like any other. The same process serves both keys, in interleaved rounds, so
the ratio isolates the quota work (admission reservations, settlement, lease reports).
"""

from __future__ import annotations

import statistics

import oggy_stack
import report

from oggy.v1 import admin_service_pb2, budget_pb2, limit_pb2, price_pb2, scope_pb2

WORKSPACE_ID = "bench-quota"
TARGET_VS_UNLIMITED = 0.90
# Far above anything the bench sends: every request is admitted.
RPM = 10**9
TPM = 10**12
BUDGET_MICRO_USD = 10**15
# Workspace prices for the bench models, so the hard budget prices every request.
PRICE = price_pb2.ModelPrice(provider="*", input_per_mtok=150_000, output_per_mtok=600_000)


def setup(admin: oggy_stack.Admin, json_base_url: str, sse_base_url: str) -> str:
    """The limited workspace; returns its gateway key text."""
    tenant = admin.setup(json_base_url, sse_base_url, workspace_id=WORKSPACE_ID)
    ws = tenant.workspace
    for model in (oggy_stack.JSON_MODEL, oggy_stack.SSE_MODEL):
        price = price_pb2.ModelPrice()
        price.CopyFrom(PRICE)
        price.model = model
        admin.call(
            "SetModelPrice", admin_service_pb2.SetModelPriceRequest(parent=ws, model_price=price)
        )
    for limit_id, metric, capacity in (
        ("rpm", limit_pb2.Limit.METRIC_REQUESTS, RPM),
        ("tpm", limit_pb2.Limit.METRIC_TOKENS, TPM),
    ):
        admin.call(
            "CreateLimit",
            admin_service_pb2.CreateLimitRequest(
                parent=ws,
                limit_id=limit_id,
                limit=limit_pb2.Limit(scope=scope_pb2.Scope(), metric=metric, capacity=capacity),
            ),
        )
    admin.call(
        "CreateBudget",
        admin_service_pb2.CreateBudgetRequest(
            parent=ws,
            budget_id="hard",
            budget=budget_pb2.Budget(
                scope=scope_pb2.Scope(),
                amount_micro_usd=BUDGET_MICRO_USD,
                period=budget_pb2.Budget.PERIOD_MONTH,
                enforcement=budget_pb2.Budget.ENFORCEMENT_HARD,
            ),
        ),
    )
    return tenant.key_text


def section(floor: report.SutRun, plain: report.SutRun, limited: report.SutRun) -> list[str]:
    rows = [
        "| SUT | rps c64 non-stream | rps c64 stream | CPU/req non-stream | CPU/req stream |",
        "|---|---:|---:|---:|---:|",
    ]
    for run in (floor, plain, limited):
        rows.append(
            f"| {run.name} | {run.rps('rps_json'):,.0f} | {run.rps('rps_sse'):,.0f} | "
            f"{run.cpu_us_per_request('rps_json'):.0f} µs | "
            f"{run.cpu_us_per_request('rps_sse'):.0f} µs |"
        )
    lines = [
        "Method: the pass-through section's data plane, one process, two gateway keys: one "
        f"in a workspace with no limits, one in `{WORKSPACE_ID}` where an RPM limit, a TPM "
        "limit and a hard monthly budget (all far above the load) apply to every request. "
        "Same wrk runs as the pass-through section, interleaved in rounds with the floor.",
        "",
        "\n".join(rows),
        "",
    ]
    for label, kind in (("non-stream", "rps_json"), ("stream", "rps_sse")):
        vs_plain = _paired(plain, limited, kind)
        vs_floor = _paired(floor, limited, kind)
        ok = "PASS" if vs_plain >= TARGET_VS_UNLIMITED else "FAIL"
        lines.append(
            f"- {label}: with limits / without = **{vs_plain:.0%}** "
            f"(target >= {TARGET_VS_UNLIMITED:.0%}) - {ok}; with limits / floor = "
            f"{vs_floor:.0%}"
        )
    errors = limited.errors
    lines.append(f"- errors (any HTTP >= 400, e.g. a refusal) in the limited runs: {errors}")
    return lines


def _paired(base: report.SutRun, ours: report.SutRun, kind: str) -> float:
    return statistics.median(report.paired_ratios(base.runs[kind], ours.runs[kind]))
