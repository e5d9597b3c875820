"""`oggy prices list|set|delete|unpriced`: the price catalog and a workspace's overrides.

Prices are typed in USD per one million tokens (`--input 2.50`) and sent as exact integer
micro-USD (2500000). Without `--workspace` these commands act on the catalog every
workspace uses; with it, on that workspace's negotiated overrides.
"""

from __future__ import annotations

import argparse
import re
import sys

from controlplane.cli import money, names, output, parsing
from controlplane.cli.commands import provider, usage
from controlplane.cli.commands.common import print_deleted
from controlplane.cli.commands.group import CommandGroup
from controlplane.cli.context import Context
from controlplane.cli.errors import CliError
from oggy.v1 import admin_service_pb2, price_pb2

PROVIDERS = (*provider.KINDS, "*")
_AMOUNTS = (
    # flag dest, proto field, required
    ("input", "input_per_mtok", True),
    ("output", "output_per_mtok", True),
    ("cached_input", "cached_input_per_mtok", False),
    ("cache_write", "cache_write_per_mtok", False),
    ("reasoning", "reasoning_per_mtok", False),
)


def _rate(field: str):
    def get(p: price_pb2.ModelPrice) -> str:
        if field not in ("input_per_mtok", "output_per_mtok") and not p.HasField(field):
            return ""
        return money.format_usd(getattr(p, field))

    return get


COLUMNS: list[output.Column] = [
    ("id", lambda p: names.short_id(p.name)),
    ("provider", lambda p: provider.cli_kind(p.provider)),
    ("model", lambda p: p.model),
    ("input/1m", _rate("input_per_mtok")),
    ("output/1m", _rate("output_per_mtok")),
    ("cached/1m", _rate("cached_input_per_mtok")),
    ("cache write/1m", _rate("cache_write_per_mtok")),
    ("reasoning/1m", _rate("reasoning_per_mtok")),
    ("effective", lambda p: output.fmt_time(p.effective_time)),
]

UNPRICED_COLUMNS: list[output.Column] = [
    ("provider", lambda m: m.provider),
    ("model", lambda m: m.model),
    ("requests", lambda m: m.requests),
    ("total tokens", lambda m: m.total_tokens),
]


def add_override_workspace(parser: argparse.ArgumentParser, text: str) -> None:
    """`--workspace` here is explicit only (no env/endpoints.json fallback): the default
    is the catalog, which every workspace shares."""
    parser.add_argument("--workspace", "-w", metavar="W", help=text)


def override_parent(args: argparse.Namespace) -> str:
    return names.workspace_name(args.workspace) if args.workspace else ""


def price_id(kind: str, model: str, effective: str | None) -> str:
    """A stable id for a (provider, model, start) so `set` twice replaces, not duplicates:
    `openai-gpt-4o-mini-any`, `anthropic-claude-sonnet-4-20250701`."""
    slug = model.lower().replace("*", "-any").replace("?", "-one")
    slug = re.sub(r"[^a-z0-9]+", "-", slug).strip("-")
    label = "any" if kind == "*" else provider.cli_kind(kind)
    suffix = f"-{effective}" if effective else ""
    return f"{label}-{slug}"[: 63 - len(suffix)].rstrip("-") + suffix


NOUN = "prices"
SUMMARY = "list and set model prices (USD per 1M tokens)"


def register(group: CommandGroup) -> None:

    list_p = group.action("list", list_prices, "prices in force and scheduled", scoped=False)
    add_override_workspace(list_p, "list this workspace's overrides (default: the catalog)")

    set_p = group.action(
        "set", set_price, "create or replace a price (USD per 1M tokens)", scoped=False
    )
    set_p.add_argument("--model", required=True, help="model name or glob, e.g. 'gpt-4o-mini*'")
    set_p.add_argument(
        "--provider", required=True, type=provider.cli_kind, choices=PROVIDERS, help="provider kind"
    )
    set_p.add_argument("--input", required=True, metavar="USD", help="per 1M input tokens")
    set_p.add_argument("--output", required=True, metavar="USD", help="per 1M output tokens")
    set_p.add_argument("--cached-input", metavar="USD", help="per 1M cached input tokens")
    set_p.add_argument("--cache-write", metavar="USD", help="per 1M tokens written to cache")
    set_p.add_argument("--reasoning", metavar="USD", help="per 1M reasoning tokens")
    set_p.add_argument("--effective", metavar="DATE", help="in force from (ISO date; default now)")
    set_p.add_argument("--id", dest="price_id", help="price id (default: from provider+model)")
    add_override_workspace(set_p, "set an override for this workspace (default: the catalog)")

    delete_p = group.action("delete", delete, "delete a price", scoped=False)
    delete_p.add_argument("price", metavar="ID", help="price id or full name")
    add_override_workspace(delete_p, "delete this workspace's override (default: the catalog)")

    unpriced_p = group.action("unpriced", unpriced, "models seen in usage that have no price")
    unpriced_p.add_argument("--since", help="a duration ago (7d), 'today' or ISO time")


def build_price(args: argparse.Namespace) -> price_pb2.ModelPrice:
    price = price_pb2.ModelPrice(provider=provider.catalog_kind(args.provider), model=args.model)
    for dest, field, required in _AMOUNTS:
        value = getattr(args, dest)
        if value is not None or required:
            setattr(price, field, money.parse_usd(value, f"--{dest.replace('_', '-')}"))
    if args.effective:
        price.effective_time.FromDatetime(parsing.parse_date(args.effective))
    return price


def list_prices(ctx: Context) -> int:
    request = admin_service_pb2.ListModelPricesRequest(parent=override_parent(ctx.args))
    items: list[price_pb2.ModelPrice] = []
    request.page_size = 200
    version = ""
    while True:
        response = ctx.client.stub.ListModelPrices(request)
        items.extend(response.model_prices)
        version = response.catalog_version or version
        if not response.next_page_token:
            break
        request.page_token = response.next_page_token
    output.emit(ctx.format, items, COLUMNS)
    if ctx.format != "json" and version:
        print(f"catalog version: {version}", file=sys.stderr)
    return 0


def set_price(ctx: Context) -> int:
    args = ctx.args
    parent = override_parent(args)
    price = build_price(args)
    effective = price.effective_time.ToDatetime().strftime("%Y%m%d") if args.effective else None
    resource_id = args.price_id or price_id(args.provider, args.model, effective)
    if parent:
        price.name = names.child_name(parent, "prices", resource_id)
    else:
        if not names.ID_PATTERN.fullmatch(resource_id):
            raise CliError(f"invalid price id {resource_id!r}: expected [a-z][a-z0-9-]{{0,62}}")
        price.name = f"prices/{resource_id}"
    response = ctx.client.stub.SetModelPrice(
        admin_service_pb2.SetModelPriceRequest(model_price=price, parent=parent)
    )
    if ctx.format == "json":
        output.write_json(output.to_dict(response))
        return 0
    output.emit_one(ctx.format, response.model_price, COLUMNS)
    print(f"catalog version: {response.catalog_version}", file=sys.stderr)
    return 0


def delete(ctx: Context) -> int:
    parent = override_parent(ctx.args)
    value = ctx.args.price
    if parent:
        name = names.child_name(parent, "prices", value)
    else:
        resource_id = value.removeprefix("prices/")
        if not names.ID_PATTERN.fullmatch(resource_id):
            raise CliError(f"invalid price {value!r}: expected an id or prices/ID")
        name = f"prices/{resource_id}"
    ctx.client.stub.DeleteModelPrice(admin_service_pb2.DeleteModelPriceRequest(name=name))
    print_deleted(ctx, name)
    return 0


def unpriced(ctx: Context) -> int:
    request = admin_service_pb2.ListUnpricedModelsRequest(
        filter=usage.build_filter(ctx.args, ctx.workspace)
    )
    response = ctx.client.stub.ListUnpricedModels(request)
    output.emit(ctx.format, list(response.models), UNPRICED_COLUMNS)
    return 0
