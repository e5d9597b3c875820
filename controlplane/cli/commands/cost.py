"""`oggy cost estimate`: what hypothetical token counts cost with the current catalog."""

from __future__ import annotations

import sys

import grpc

from controlplane.cli import money, names, output
from controlplane.cli.commands import provider
from controlplane.cli.commands.group import CommandGroup
from controlplane.cli.commands.prices import PROVIDERS, add_override_workspace, override_parent
from controlplane.cli.context import Context
from controlplane.cli.errors import CliError
from oggy.v1 import admin_service_pb2

EXIT_NO_PRICE = 1  # like any failed call


NOUN = "cost"
SUMMARY = "estimate what a request costs"


def register(group: CommandGroup) -> None:
    est = group.action("estimate", estimate, "price token counts", scoped=False)
    est.add_argument("--model", required=True)
    est.add_argument("--input", type=int, required=True, metavar="N", help="input tokens")
    est.add_argument("--output", type=int, required=True, metavar="N", help="output tokens")
    est.add_argument("--cached", type=int, default=0, metavar="N", help="of input: cached")
    est.add_argument("--cache-write", type=int, default=0, metavar="N", help="written to cache")
    est.add_argument("--reasoning", type=int, default=0, metavar="N", help="of output: reasoning")
    est.add_argument(
        "--provider",
        type=provider.cli_kind,
        choices=[p for p in PROVIDERS if p != "*"],
        help="default: any kind",
    )
    add_override_workspace(est, "price with this workspace's overrides (default: the catalog)")


def estimate(ctx: Context) -> int:
    args = ctx.args
    counts = {
        "--input": args.input,
        "--output": args.output,
        "--cached": args.cached,
        "--cache-write": args.cache_write,
        "--reasoning": args.reasoning,
    }
    for flag, value in counts.items():
        if value < 0:
            raise CliError(f"{flag} must not be negative")
    request = admin_service_pb2.EstimateCostRequest(
        model=args.model,
        provider=provider.catalog_kind(args.provider or ""),
        input_tokens=args.input,
        output_tokens=args.output,
        cached_input_tokens=args.cached,
        cache_write_tokens=args.cache_write,
        reasoning_tokens=args.reasoning,
        workspace=override_parent(args),
    )
    try:
        response = ctx.client.stub.EstimateCost(request)
    except grpc.RpcError as e:
        if isinstance(e, grpc.Call) and e.code() == grpc.StatusCode.NOT_FOUND:
            print(f"error: no price for model {args.model}", file=sys.stderr)
            return EXIT_NO_PRICE
        raise
    if ctx.format == "json":
        output.write_json(output.to_dict(response))
        return 0
    price = response.model_price
    columns: list[output.Column] = [
        ("cost", lambda r: money.format_usd(r.cost_micro_usd)),
        ("price", lambda r: names.short_id(price.name) if price.name else ""),
        ("provider", lambda r: provider.cli_kind(price.provider)),
        ("model", lambda r: price.model),
        ("catalog version", lambda r: r.catalog_version),
    ]
    output.emit_one(ctx.format, response, columns)
    return 0
